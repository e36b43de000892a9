//! The delivery log as the admin API shows it: every command's outcome, newest first, paged.

use crate::connect::ConnectError;
use crate::domain::TenantId;
use crate::store::DeliveryPage;
use crate::AppContext;

pub const MAX_DELIVERY_PAGE: usize = 100;
const DEFAULT_DELIVERY_PAGE: usize = 50;

pub async fn delivery_page(
    ctx: &AppContext,
    t: &TenantId,
    limit: Option<usize>,
    cursor: Option<&str>,
) -> Result<DeliveryPage, ConnectError> {
    let limit = limit.unwrap_or(DEFAULT_DELIVERY_PAGE);
    if limit == 0 || limit > MAX_DELIVERY_PAGE {
        return Err(ConnectError::Invalid(format!("limit must be between 1 and {MAX_DELIVERY_PAGE}")));
    }
    if let Some(c) = cursor {
        let plausible = !c.is_empty() && c.len() <= 160 && c.bytes().all(|b| b.is_ascii_graphic());
        if !plausible {
            return Err(ConnectError::Invalid("cursor is not one this API returned; pass next_cursor as is".into()));
        }
    }
    Ok(ctx.store.deliveries(t, limit, cursor).await?)
}
