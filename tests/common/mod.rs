//! Test helpers: `TestApp` runs the real router on a real socket (port 0) with a manual clock,
//! plus repository and code-generator doubles for failure paths.
#![allow(dead_code, unreachable_pub)] // each test crate uses a different subset

pub mod backends;
pub mod browser;
pub mod dns;
pub mod doubles;
pub mod fixture;
pub mod process;
pub mod proxy;
pub mod shared;

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::{Client, Response, redirect};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use url_shortener::config::Settings;
use url_shortener::domain::{ManualClock, ShortCodeGen, Timestamp};
use url_shortener::repository::{
    AccountStores, ApiKeyStore, ClickStatsStore, LinkHealthStore, MemoryRepository, Repository,
    Stores,
};
use url_shortener::service::{ClickPipe, SharedTier};
use url_shortener::state::Wiring;
use url_shortener::{AppState, app, serve};

/// The public origin test apps are configured with.
pub const BASE_URL: &str = "https://sho.rt";

/// The password of every user the helpers make.
pub const PASSWORD: &str = "correct horse battery";

/// 2026-01-01T00:00:00Z, where every test clock starts.
pub const T0: i64 = 1_767_225_600_000;

/// How to build a [`TestApp`].
pub struct TestAppBuilder {
    settings: Settings,
    repo: Arc<dyn Repository>,
    keys: Arc<dyn ApiKeyStore>,
    accounts: AccountStores,
    clicks: Arc<dyn ClickStatsStore>,
    link_health: Option<Arc<dyn LinkHealthStore>>,
    codes: Option<Arc<dyn ShortCodeGen>>,
    limiter: Option<Arc<dyn url_shortener::limiter::Limiter>>,
    clicks_through: Option<ClickPipe>,
    tier: Option<SharedTier>,
}

impl TestAppBuilder {
    /// Replaces the memory store.
    pub fn repo(mut self, repo: Arc<dyn Repository>) -> Self {
        self.repo = repo;
        self
    }

    /// Replaces the API key store.
    pub fn keys(mut self, keys: Arc<dyn ApiKeyStore>) -> Self {
        self.keys = keys;
        self
    }

    /// Replaces the account stores.
    pub fn accounts(mut self, accounts: AccountStores) -> Self {
        self.accounts = accounts;
        self
    }

    /// Replaces the click analytics store (the links' memory store by default).
    pub fn clicks(mut self, clicks: Arc<dyn ClickStatsStore>) -> Self {
        self.clicks = clicks;
        self
    }

    /// Keeps link health in `store` (none by default).
    pub fn link_health(mut self, store: Arc<dyn LinkHealthStore>) -> Self {
        self.link_health = Some(store);
        self
    }

    /// Puts clicks into `pipe` (a connected `worker::ClickPipeline`'s) instead of a memory
    /// queue of its own.
    pub fn clicks_through(mut self, pipe: ClickPipe) -> Self {
        self.clicks_through = Some(pipe);
        self
    }

    /// Puts the fleet's shared cache `tier` behind the app's own cache.
    pub fn shared_tier(mut self, tier: SharedTier) -> Self {
        self.tier = Some(tier);
        self
    }

    /// Uses `limiter` instead of the one the settings describe.
    pub fn limiter(mut self, limiter: Arc<dyn url_shortener::limiter::Limiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// Replaces the random code generator.
    pub fn codes(mut self, codes: Arc<dyn ShortCodeGen>) -> Self {
        self.codes = Some(codes);
        self
    }

    /// Adjusts settings.
    pub fn settings(mut self, f: impl FnOnce(&mut Settings)) -> Self {
        f(&mut self.settings);
        self
    }

    /// Starts the app on 127.0.0.1:0.
    pub async fn spawn(self) -> TestApp {
        let clock = Arc::new(ManualClock::new(Timestamp::from_unix_millis(T0).unwrap()));
        let stores = Stores {
            links: self.repo.clone(),
            keys: self.keys.clone(),
            clicks: self.clicks.clone(),
            link_health: self.link_health.clone(),
            accounts: self.accounts.clone(),
        };
        let limiter = match self.limiter {
            Some(limiter) => Some(limiter),
            None => url_shortener::limiter::build_limiter(
                &self.settings.rate_limit,
                std::time::Duration::from_secs(2),
            )
            .await
            .expect("test limiter starts"),
        };
        let metrics = url_shortener::metrics::Metrics::new();
        // As the binary does: settings are validated once, where they are loaded.
        self.settings.validate().expect("test settings are valid");
        let mut wiring = Wiring::local(&self.settings.clicks);
        if let Some(pipe) = self.clicks_through {
            wiring.clicks = pipe;
        }
        wiring.tier = self.tier;
        let state = AppState::from_settings(
            &self.settings,
            stores,
            clock.clone(),
            self.codes,
            limiter,
            metrics,
            wiring,
        )
        .expect("test settings are valid");
        let lifecycle = state.lifecycle.clone();
        let handle = state.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            serve(listener, app(state), async {
                let _ = stopped.await;
            })
            .await
            .expect("server runs");
        });
        let client = Client::builder()
            .redirect(redirect::Policy::none())
            .build()
            .unwrap();
        TestApp {
            addr,
            root: format!("http://{addr}"),
            client,
            clock,
            repo: self.repo,
            lifecycle,
            state: handle,
            stop: Some(stop),
            server: Some(server),
        }
    }
}

/// A running app and a client for it.
pub struct TestApp {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`, where requests go (the public base URL is [`BASE_URL`]).
    pub root: String,
    pub client: Client,
    pub clock: Arc<ManualClock>,
    pub repo: Arc<dyn Repository>,
    pub lifecycle: url_shortener::state::Lifecycle,
    /// The app's state, for looking behind the HTTP interface.
    pub state: AppState,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl TestApp {
    /// Settings for tests: public base URL [`BASE_URL`], everything else default.
    pub fn builder() -> TestAppBuilder {
        let mut settings = Settings::default();
        settings.server.base_url = BASE_URL.to_owned();
        // Most tests send bursts from one address; the rate-limit tests turn it back on.
        settings.rate_limit.enabled = false;
        // Links and their analytics in one store, as every real backend keeps them.
        let links = Arc::new(MemoryRepository::new());
        TestAppBuilder {
            settings,
            repo: links.clone(),
            keys: Arc::new(MemoryRepository::new()),
            accounts: AccountStores::of(links.clone()),
            clicks: links,
            link_health: None,
            codes: None,
            limiter: None,
            clicks_through: None,
            tier: None,
        }
    }

    /// A default app.
    pub async fn spawn() -> TestApp {
        Self::builder().spawn().await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.root)
    }

    /// Makes the account `name` with [`PASSWORD`] and `role` (through the service, as the CLI
    /// would).
    pub async fn create_user(&self, name: &str, role: url_shortener::domain::Role) {
        self.state
            .accounts
            .create_user(name, PASSWORD, None, role)
            .await
            .unwrap();
    }

    /// Makes the account `name` with `role` and logs in through `POST /api/session`,
    /// asserting 200: the session cookie (`name=value`).
    pub async fn login_as(&self, name: &str, role: url_shortener::domain::Role) -> String {
        self.create_user(name, role).await;
        let response = self
            .client
            .post(self.url("/api/session"))
            .json(&json!({ "username": name, "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "logging in as {name}");
        session_cookie(&response).unwrap()
    }

    /// `POST /shorten` for `long_url` as the session `cookie`, from our own origin, asserting
    /// 201: the new link's code.
    pub async fn create_link(&self, cookie: &str, long_url: &str) -> String {
        let response = self
            .client
            .post(self.url("/shorten"))
            .header("cookie", cookie)
            .header("origin", BASE_URL)
            .json(&json!({ "long_url": long_url }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "creating {long_url}");
        let body: Value = response.json().await.unwrap();
        body["short_code"].as_str().unwrap().to_owned()
    }

    /// `POST /shorten` with a JSON body.
    pub async fn shorten(&self, body: Value) -> Response {
        self.client
            .post(self.url("/shorten"))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// `POST /shorten` for `long_url`, asserting 201; returns the body.
    pub async fn create(&self, long_url: &str) -> Value {
        let response = self.shorten(json!({ "long_url": long_url })).await;
        assert_eq!(response.status(), 201, "creating {long_url}");
        response.json().await.unwrap()
    }

    /// `POST /shorten` with a raw body and content type.
    pub async fn shorten_raw(&self, content_type: Option<&str>, body: Vec<u8>) -> Response {
        let mut request = self.client.post(self.url("/shorten")).body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        request.send().await.unwrap()
    }

    /// `GET /s/{code}` (redirects are not followed).
    pub async fn follow(&self, code: &str) -> Response {
        self.client
            .get(self.url(&format!("/s/{code}")))
            .send()
            .await
            .unwrap()
    }

    /// `HEAD /s/{code}`.
    pub async fn head(&self, code: &str) -> Response {
        self.client
            .head(self.url(&format!("/s/{code}")))
            .send()
            .await
            .unwrap()
    }

    /// `GET /stats/{code}`.
    pub async fn stats(&self, code: &str) -> Response {
        self.client
            .get(self.url(&format!("/stats/{code}")))
            .send()
            .await
            .unwrap()
    }

    /// `GET {path}`.
    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Asserts a problem+json error with `status` and `code`; returns the body.
pub async fn assert_problem(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status, "status for expected code {code}");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "content type for {code}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["type"], format!("urn:url-shortener:problem:{code}"));
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
    body
}

/// The `name=value` of the session cookie a response sets (test apps are on https, so it is
/// `__Host-session`); `None` when it sets none, or only clears it.
pub fn session_cookie(response: &Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("__Host-session=") && !v.contains("Max-Age=0"))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

/// A `UrlService` over `repo` counting clicks in `clicks`, with the system clock, no cache and
/// the default policies: for tests of the service's reads beside a flush.
pub fn url_service_over(
    repo: Arc<dyn Repository>,
    clicks: Arc<url_shortener::service::ClickBuffer>,
) -> Arc<url_shortener::service::UrlService> {
    use url_shortener::domain::{RandomCodeGen, SystemClock, UrlPolicy};
    use url_shortener::service::{LinkPolicy, UrlService};
    Arc::new(UrlService::new(
        repo,
        Arc::new(SystemClock),
        Arc::new(RandomCodeGen::new(8).unwrap()),
        UrlPolicy::new(None, false),
        LinkPolicy {
            default_ttl_seconds: None,
            max_ttl_seconds: 315_360_000,
        },
        None,
        clicks,
    ))
}
