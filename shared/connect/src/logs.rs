//! The tenant's logs as the admin API pages through them: the audit log (written here and by the
//! token refresh) and the delivery log (written by activity sync), newest first.

use sfbridge_core::audit::AUDIT_PAGES;
use sfbridge_core::domain::TenantId;
use sfbridge_core::paging::PageRules;
use sfbridge_core::store::{AuditPage, DeliveryPage};

use crate::{ConnectError, Connector};

/// The delivery log's page sizes and cursors.
pub(crate) const DELIVERY_PAGES: PageRules = PageRules { default_limit: 50, max_limit: 100, max_cursor_len: 160 };

pub async fn audit_page(ctx: &Connector, t: &TenantId, limit: Option<usize>, cursor: Option<&str>) -> Result<AuditPage, ConnectError> {
    let page = AUDIT_PAGES.check(limit, cursor)?;
    Ok(ctx.audit.page(t, page.limit, page.cursor.as_deref()).await?)
}

pub async fn delivery_page(
    ctx: &Connector,
    t: &TenantId,
    limit: Option<usize>,
    cursor: Option<&str>,
) -> Result<DeliveryPage, ConnectError> {
    let page = DELIVERY_PAGES.check(limit, cursor)?;
    Ok(ctx.store.deliveries(t, page.limit, page.cursor.as_deref()).await?)
}
