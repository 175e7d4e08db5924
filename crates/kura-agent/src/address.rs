//! The agent's addresses: EKS's link-local ones, put on a dummy interface of the node (the agent runs
//! with hostNetwork and NET_ADMIN, as EKS's does), with iproute2's `ip`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::Command;

/// EKS Pod Identity Agent's IPv4 address.
pub const LINK_LOCAL_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 170, 23);
/// EKS Pod Identity Agent's IPv6 address.
pub const LINK_LOCAL_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23);

/// Why an address could not be put on the interface.
#[derive(Debug, thiserror::Error)]
#[error("`ip {args}`: {why}")]
pub struct AddressError {
    args: String,
    why: String,
}

fn ip(args: &[&str]) -> Result<(), AddressError> {
    let failed = |why: String| AddressError { args: args.join(" "), why };
    let out = Command::new("ip").args(args).output().map_err(|e| failed(e.to_string()))?;
    if out.status.success() { Ok(()) } else { Err(failed(String::from_utf8_lossy(&out.stderr).trim().to_owned())) }
}

/// The loopback interface, which carries the addresses where dummy interfaces are not available (a
/// kernel without the `dummy` module): the node accepts traffic for any of its addresses on any
/// interface, so pods reach them the same way.
pub const FALLBACK_INTERFACE: &str = "lo";

/// Creates the dummy interface `interface` if it is missing (or, where the kernel has no dummy
/// interfaces, uses [`FALLBACK_INTERFACE`]), puts `addresses` on it (again is fine) and brings it up.
/// Returns the interface that carries them.
pub fn setup(interface: &str, addresses: &[IpAddr]) -> Result<String, AddressError> {
    let mut interface = interface.to_owned();
    if ip(&["link", "show", "dev", &interface]).is_err()
        && let Err(e) = ip(&["link", "add", &interface, "type", "dummy"])
    {
        tracing::warn!(error = %e, "no dummy interface; putting the agent's addresses on {FALLBACK_INTERFACE}");
        interface = FALLBACK_INTERFACE.to_owned();
    }
    let interface = interface.as_str();
    for address in addresses {
        let (family, prefix) = match address {
            IpAddr::V4(_) => ("-4", 32),
            IpAddr::V6(_) => ("-6", 128),
        };
        ip(&[family, "addr", "replace", &format!("{address}/{prefix}"), "dev", interface])?;
    }
    ip(&["link", "set", "dev", interface, "up"])?;
    Ok(interface.to_owned())
}
