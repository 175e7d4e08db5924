//! The foundation every other layer stands on: who a caller is (the account, principals, session
//! claims, upload tickets), secrets and key pairs, clocks, the names S3 allows, the size limits
//! more than one layer applies, and XML text escaping. It imports nothing from the rest of kura-server.

pub mod account;
pub mod caller;
pub mod claims;
pub mod clock;
pub mod credentials;
pub mod limits;
pub mod names;
pub mod ticket;
pub mod xml;
