//! The domain: validated value types, the link record, accounts and sessions, and the `Clock`
//! and `ShortCodeGen` seams. No I/O lives here and nothing here knows about HTTP, async
//! runtimes or storage crates.

mod analytics;
mod api_key;
mod click;
mod clock;
mod codegen;
mod instance;
mod link_health;
mod long_url;
mod record;
mod routing;
mod session;
mod short_code;
mod timestamp;
mod user;

pub use analytics::{
    BREAKDOWN_KEYS_PER_DAY, ClickSplit, ClickTally, DEFAULT_TARGET, DIRECT, Dimension,
    DimensionClicks, HourClicks, OTHER, UNKNOWN_COUNTRY, kept_key, rule_target,
};
pub use api_key::{API_KEY_PREFIX, ApiKeyHash, ApiKeyRecord, ApiKeySecret};
pub use click::{
    ClickEvent, ClickTarget, Country, DAY_MILLIS, DeviceClass, HOUR_MILLIS, ReferrerHost, day_of,
    hour_of,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use codegen::{
    BASE62, MAX_GENERATED_LEN, MIN_GENERATED_LEN, RandomCodeGen, ShortCodeGen, random_base62,
};
pub use instance::InstanceId;
pub use link_health::{BrokenRule, CheckOutcome, LinkCheck, LinkHealthState, LinkHealthStatus};
pub use long_url::{
    BAD_PORTS, LongUrl, LongUrlError, MAX_LONG_URL_LEN, UrlPolicy, is_global_v4, is_global_v6,
};
pub use record::UrlRecord;
pub use routing::{
    MAX_QUERY_MATCH_LEN, MAX_RULE_VALUES, MAX_RULES, Platform, Platforms, QueryMatch,
    RedirectStatus, Routing, RoutingError, Rule, Visit, language_tag,
};
pub use session::{Invite, Session, SessionLifetime, Token, TokenKey};
pub use short_code::{
    Alias, AliasError, MAX_CODE_LEN, MIN_CODE_LEN, RESERVED_ALIASES, ShortCode, ShortCodeError,
    is_reserved,
};
pub use timestamp::Timestamp;
pub use user::{
    AccountEdit, AccountInputError, DisplayName, MAX_DISPLAY_NAME_LEN, PASSWORD_LEN, Password,
    PasswordHash, Role, USERNAME_LEN, User, Username,
};
