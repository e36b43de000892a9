//! The tenant's logs as the admin API pages through them: the audit log (written here and by the
//! token refresh) and the delivery log (written by activity sync), newest first.

use sfbridge_core::audit::AUDIT_PAGES;
use sfbridge_core::domain::TenantId;
use sfbridge_core::paging::PageRules;
use sfbridge_core::store::{AuditPage, DeliveryPage};

use crate::{ConnectError, Connector};

/// The delivery log's page sizes and cursors.
pub(crate) const DELIVERY_PAGES: PageRules = PageRules { list: "deliveries", default_limit: 50, max_limit: 100 };

/// `limit` and `cursor` as the query string gave them; the page's `next_cursor` is sealed for this
/// list and tenant ([`sfbridge_core::paging`]).
pub async fn audit_page(ctx: &Connector, t: &TenantId, limit: Option<&str>, cursor: Option<&str>) -> Result<AuditPage, ConnectError> {
    let page = AUDIT_PAGES.check(t, limit, cursor)?;
    let found = ctx.audit.page(t, page.limit, page.cursor.as_deref()).await?;
    Ok(AuditPage { next_cursor: found.next_cursor.map(|position| AUDIT_PAGES.cursor(t, &position)), ..found })
}

/// As [`audit_page`], for the delivery log.
pub async fn delivery_page(
    ctx: &Connector,
    t: &TenantId,
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Result<DeliveryPage, ConnectError> {
    let page = DELIVERY_PAGES.check(t, limit, cursor)?;
    let found = ctx.store.deliveries(t, page.limit, page.cursor.as_deref()).await?;
    Ok(DeliveryPage { next_cursor: found.next_cursor.map(|position| DELIVERY_PAGES.cursor(t, &position)), ..found })
}
