//! `kura admin kms …`: the built-in key service's keys and aliases under `/kura/admin/v1/kms/`.
//!
//! Root only, like backups: a key decides who can read which objects, and no policy grants managing
//! one. Keys are named in the JSON body (an id, key ARN, alias or alias ARN), never in the path, since
//! aliases hold `/`.
//!
//! | call | body |
//! |---|---|
//! | `GET kms/keys` | — |
//! | `POST kms/keys` | `{"id"?, "description"?, "aliases"?}` |
//! | `POST kms/describe`, `kms/enable`, `kms/disable`, `kms/cancel-deletion` | `{"key"}` |
//! | `POST kms/schedule-deletion` | `{"key", "pending_window_days"?}` (7 to 30, default 30) |
//! | `POST kms/create-alias` | `{"alias", "key"}` |
//! | `POST kms/delete-alias` | `{"alias"}` |

use super::{json_response, parse_json};
use crate::base::caller::Caller;
use crate::errors::{self, kms_error};
use crate::kms::{BuiltinKms, KeyOrigin, KeyService as _};
use http::StatusCode;
use s3s::{Body, S3Response, S3Result};
use serde::Deserialize;
use serde_json::json;

/// The KMS calls, decided from the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KmsCall {
    List,
    Create,
    Describe,
    Enable,
    Disable,
    ScheduleDeletion,
    CancelDeletion,
    CreateAlias,
    DeleteAlias,
}

impl KmsCall {
    /// The call `POST kms/NAME` (or `GET kms/keys`) names.
    pub(super) fn route(method: &str, name: &str) -> Option<Self> {
        Some(match (method, name) {
            ("GET", "keys") => Self::List,
            ("POST", "keys") => Self::Create,
            ("POST", "describe") => Self::Describe,
            ("POST", "enable") => Self::Enable,
            ("POST", "disable") => Self::Disable,
            ("POST", "schedule-deletion") => Self::ScheduleDeletion,
            ("POST", "cancel-deletion") => Self::CancelDeletion,
            ("POST", "create-alias") => Self::CreateAlias,
            ("POST", "delete-alias") => Self::DeleteAlias,
            _ => return None,
        })
    }

    /// The action the audit log records (AWS KMS's names).
    pub(super) fn action(self) -> &'static str {
        match self {
            Self::List => "kms:ListKeys",
            Self::Create => "kms:CreateKey",
            Self::Describe => "kms:DescribeKey",
            Self::Enable => "kms:EnableKey",
            Self::Disable => "kms:DisableKey",
            Self::ScheduleDeletion => "kms:ScheduleKeyDeletion",
            Self::CancelDeletion => "kms:CancelKeyDeletion",
            Self::CreateAlias => "kms:CreateAlias",
            Self::DeleteAlias => "kms:DeleteAlias",
        }
    }
}

/// Refuses every caller but root.
pub(super) fn authorize(caller: &Caller) -> S3Result<()> {
    if matches!(caller, Caller::Root { .. }) {
        Ok(())
    } else {
        Err(errors::access_denied("only root may manage KMS keys: no policy grants it"))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    id: Option<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    aliases: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyBody {
    key: String,
    pending_window_days: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AliasBody {
    alias: String,
    key: Option<String>,
}

/// Serves one call.
pub(super) async fn serve(kms: &BuiltinKms, call: KmsCall, body: &[u8]) -> S3Result<S3Response<Body>> {
    let key_body = |body: &[u8]| -> S3Result<KeyBody> {
        let input: KeyBody = parse_json(body, false)?;
        if input.pending_window_days.is_some() && call != KmsCall::ScheduleDeletion {
            return Err(errors::invalid_argument("pending_window_days belongs to schedule-deletion only"));
        }
        Ok(input)
    };
    let key = match call {
        KmsCall::List => {
            let keys = kms.list().await.map_err(kms_error)?;
            return json_response(StatusCode::OK, &json!({ "keys": keys }));
        }
        KmsCall::Create => {
            let input: CreateBody = parse_json(body, true)?;
            let made = kms.create(input.id.as_deref(), &input.description, &input.aliases, KeyOrigin::Admin).await;
            return json_response(StatusCode::OK, &made.map_err(kms_error)?);
        }
        KmsCall::Describe => kms.describe(&key_body(body)?.key).await,
        KmsCall::Enable => kms.enable(&key_body(body)?.key).await,
        KmsCall::Disable => kms.disable(&key_body(body)?.key).await,
        KmsCall::ScheduleDeletion => {
            let input = key_body(body)?;
            kms.schedule_deletion(&input.key, input.pending_window_days).await
        }
        KmsCall::CancelDeletion => kms.cancel_deletion(&key_body(body)?.key).await,
        KmsCall::CreateAlias => {
            let input: AliasBody = parse_json(body, false)?;
            let key = input.key.ok_or_else(|| errors::invalid_argument("create-alias needs the key it names"))?;
            kms.create_alias(&input.alias, &key).await
        }
        KmsCall::DeleteAlias => {
            let input: AliasBody = parse_json(body, false)?;
            if input.key.is_some() {
                return Err(errors::invalid_argument("delete-alias takes the alias only"));
            }
            kms.delete_alias(&input.alias).await.map_err(kms_error)?;
            return Ok(S3Response::with_status(Body::empty(), StatusCode::NO_CONTENT));
        }
    };
    json_response(StatusCode::OK, &key.map_err(kms_error)?)
}
