//! Who may use the server, checked before a request reaches a handler, so that a
//! web page on another site cannot drive it from the user's browser:
//!
//! - the `Host` must be a name the server answers to: a loopback name, an IP
//!   address when it listens beyond loopback, or a name given with
//!   `--allow-host` (a page elsewhere pointing its own domain at the server,
//!   DNS rebinding, is refused);
//! - an `Origin` (or a browser's `Sec-Fetch-Site`) naming another site is
//!   refused: only the app's own pages, and clients that send none (curl,
//!   scripts), are answered;
//! - beyond loopback every request needs the token printed at start: in the
//!   address (`?token=`), which sets a cookie so the page's own requests carry
//!   it, or as `Authorization: Bearer <token>`;
//! - the POST endpoints take only their real content type (415 otherwise): a
//!   `text/plain` body is what any page may send without asking first.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode, Version};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState, body_limit};

/// The names and secret requests are checked against.
pub struct Access {
    /// Lowercase names answered besides loopback names and (beyond loopback) IP addresses.
    allowed_hosts: Vec<String>,
    /// Listening beyond loopback: any IP address may name the server, and the token is needed.
    beyond_loopback: bool,
    /// Needed from every request when listening beyond loopback.
    token: Option<String>,
    /// One cookie per port: two servers on one machine do not overwrite each other's.
    cookie: String,
    /// The address listened on, as a `Host` names it (`127.0.0.2`, `[::1]`): the
    /// address printed at start is answered, whichever loopback address it is.
    bound_name: String,
}

impl Access {
    /// For a server listening on `bound`; a token is drawn when that is not loopback.
    pub fn new(bound: SocketAddr, allowed_hosts: &[String]) -> Self {
        let beyond_loopback = !bound.ip().is_loopback();
        Self {
            allowed_hosts: allowed_hosts
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            beyond_loopback,
            token: beyond_loopback.then(new_token),
            cookie: format!("mnist-mlp-token-{}", bound.port()),
            bound_name: match bound.ip() {
                IpAddr::V4(ip) => ip.to_string(),
                IpAddr::V6(ip) => format!("[{ip}]"),
            },
        }
    }

    /// The token to print at start, when one is needed.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Whether `name` (a `Host` header's, port stripped) names this server.
    fn answers_to(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        matches!(name.as_str(), "localhost" | "127.0.0.1" | "[::1]")
            || name == self.bound_name
            || (self.beyond_loopback && is_ip_literal(&name))
            || self.allowed_hosts.contains(&name)
    }

    /// 403 unless the name the request gives the server ([`host_named`]) is one it
    /// answers to; HTTP/1.0 may give none.
    fn check_host(&self, named: Option<&str>) -> Result<(), ApiError> {
        let Some(named) = named else {
            return Ok(());
        };
        if self.answers_to(split_port(named).0) {
            return Ok(());
        }
        let names = if self.beyond_loopback {
            "localhost, IP addresses"
        } else {
            "localhost, 127.0.0.1, [::1]"
        };
        let listed = self
            .allowed_hosts
            .iter()
            .fold(names.to_string(), |all, name| format!("{all}, {name}"));
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "this server answers to {listed} only, not {named:?}: open it by one of those names, or start it with --allow-host NAME for another name"
            ),
        ))
    }

    /// How the request carries the token; 401 when a token is needed and missing.
    fn check_token(&self, request: &Request) -> Result<Token, ApiError> {
        let Some(token) = &self.token else {
            return Ok(Token::Kept);
        };
        let in_query = request
            .uri()
            .query()
            .into_iter()
            .flat_map(|q| q.split('&'))
            .filter_map(|pair| pair.strip_prefix("token="))
            .any(|given| same_secret(given, token));
        if in_query {
            return Ok(Token::InAddress);
        }
        let headers = request.headers();
        let in_header = headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split_once(' '))
            // The scheme's name is case-insensitive (RFC 9110 §11.1): `bearer` is `Bearer`.
            .filter(|(scheme, _)| {
                scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token")
            })
            .map(|(_, given)| given)
            .chain(cookies(headers, &self.cookie))
            .any(|given| same_secret(given.trim(), token));
        if in_header {
            return Ok(Token::Kept);
        }
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "this server listens beyond loopback, so it needs the token it printed at start: open the address with ?token=… from its console, or send Authorization: Bearer <token>".into(),
        ))
    }

    /// The answer to a request that brought the token in its address: the cookie
    /// set, and the page itself sent to `/` so the token leaves the address bar.
    fn remember_token(&self, request_was_page: bool, mut response: Response) -> Response {
        if request_was_page {
            response = (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
        }
        let token = self.token.as_deref().unwrap_or_default();
        let cookie = format!("{}={token}; Path=/; HttpOnly; SameSite=Lax", self.cookie);
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
        response
    }
}

/// The name a request gives the server: its address's authority when it has one
/// (absolute form, which RFC 9112 §3.2.2 puts before `Host`), else its one `Host`
/// header; `None` for HTTP/1.0 without one. More than one `Host`, or none in
/// HTTP/1.1, is a malformed request (400, as RFC 9112 §3.2 asks).
fn host_named(request: &Request) -> Result<Option<String>, ApiError> {
    let hosts = request.headers().get_all(header::HOST);
    match (request.uri().authority(), hosts.iter().count()) {
        (_, 2..) => Err(ApiError::bad_request(
            "the request has more than one Host header: send one".into(),
        )),
        (Some(authority), _) => Ok(Some(authority.as_str().to_string())),
        (None, 1) => Ok(hosts
            .iter()
            .next()
            .map(|v| v.to_str().unwrap_or_default().to_string())),
        (None, _) if request.version() == Version::HTTP_10 => Ok(None),
        (None, _) => Err(ApiError::bad_request(
            "an HTTP/1.1 request needs a Host header: send one naming this server".into(),
        )),
    }
}

/// How a request that may pass carries the token.
enum Token {
    /// None is needed, or it came in a header or the cookie: nothing to add to the answer.
    Kept,
    /// In the address: the answer sets the cookie, so the page's own requests carry it.
    InAddress,
}

/// 48 hex digits from the operating system's randomness (ThreadRng is seeded by it).
fn new_token() -> String {
    let bytes: [u8; 24] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares in time independent of where the strings differ.
fn same_secret(given: &str, secret: &str) -> bool {
    given.len() == secret.len()
        && given
            .bytes()
            .zip(secret.bytes())
            .fold(0, |diff, (a, b)| diff | (a ^ b))
            == 0
}

/// The values of cookie `name` in the request's `Cookie` headers.
fn cookies<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(move |pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name).then_some(value)
        })
}

/// `name` and port of a `Host`-style `name[:port]` (`[v6]:port` too).
fn split_port(host: &str) -> (&str, Option<&str>) {
    match host.rsplit_once(':') {
        Some((name, port))
            if !name.is_empty()
                && !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && (!name.contains(':') || name.ends_with(']')) =>
        {
            (name, Some(port))
        }
        _ => (host, None),
    }
}

/// Whether `name` is an IP address as a `Host` header writes one: IPv4, or IPv6
/// in brackets (a bare `::1` is not a host name).
fn is_ip_literal(name: &str) -> bool {
    match name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        Some(v6) => v6.parse::<Ipv6Addr>().is_ok(),
        None => name.parse::<IpAddr>().is_ok_and(|ip| ip.is_ipv4()),
    }
}

/// Whether `origin` (`scheme://host[:port]`) is the server the `host` header names.
fn same_origin(origin: &str, host: Option<&str>) -> bool {
    let (Some(host), Some((scheme, authority))) = (host, origin.split_once("://")) else {
        return false;
    };
    let default = match scheme {
        "http" => "80",
        "https" => "443",
        _ => return false,
    };
    let name_and_port = |authority: &str| {
        let (name, port) = split_port(authority);
        (
            name.to_ascii_lowercase(),
            port.unwrap_or(default).to_string(),
        )
    };
    name_and_port(authority) == name_and_port(host)
}

/// 403 when a browser says another site made the request: an `Origin` other than `host`
/// (sent with every cross-origin fetch and form POST), or `Sec-Fetch-Site`
/// other than `same-origin` for anything but opening the page itself (what an
/// `<img>` or `<iframe>` on another site sends, without an `Origin`).
fn check_origin(headers: &HeaderMap, host: Option<&str>) -> Result<(), ApiError> {
    let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let foreign_origin = value(header::ORIGIN.as_str()).filter(|o| !same_origin(o, host));
    let opened =
        value("sec-fetch-mode") == Some("navigate") && value("sec-fetch-dest") == Some("document");
    let foreign_site = value("sec-fetch-site")
        .filter(|site| matches!(*site, "cross-site" | "same-site") && !opened);
    match foreign_origin.or(foreign_site) {
        None => Ok(()),
        Some(from) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "refused a request made by another web site ({from}): this server answers its own pages and clients that send no Origin (curl, scripts) only"
            ),
        )),
    }
}

/// Checks every request before routing: a body declared larger than
/// [`body_limit`](super::body_limit) (413, before it is read), the `Host` and the `Origin` (403),
/// and the token when one is needed (401).
pub async fn check(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let access = &state.access;
    let checked = check_size(&request)
        .and_then(|()| host_named(&request))
        .and_then(|host| {
            access.check_host(host.as_deref())?;
            check_origin(request.headers(), host.as_deref())
        })
        .and_then(|()| access.check_token(&request));
    match checked {
        Err(err) if err.status == StatusCode::UNAUTHORIZED => {
            let mut response = err.into_response();
            let scheme = HeaderValue::from_static("Bearer");
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, scheme);
            response
        }
        Err(err) => err.into_response(),
        Ok(Token::Kept) => next.run(request).await,
        Ok(Token::InAddress) => {
            let page = request.method() == Method::GET && request.uri().path() == "/";
            let response = next.run(request).await;
            access.remember_token(page, response)
        }
    }
}

/// 413 when the declared `Content-Length` is over the method's [`body_limit`], so
/// such a body is refused before any of it is read (one sent without a length is cut
/// off as it is read, with the same answer).
fn check_size(request: &Request) -> Result<(), ApiError> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let limit = body_limit(request.method(), request.uri().path());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(ApiError::too_large(limit, request.method()));
    }
    Ok(())
}

/// `POST /api/predict` takes JSON only.
pub async fn json_body(request: Request, next: Next) -> Response {
    body_type(request, next, "application/json", |t| {
        t == "application/json"
    })
    .await
}

/// `POST /api/predict/image` takes a picture's own `image/*` type only.
pub async fn image_body(request: Request, next: Next) -> Response {
    body_type(
        request,
        next,
        "image/png (or the picture's own image/* type)",
        |t| t.starts_with("image/"),
    )
    .await
}

/// 415 unless the request's `Content-Type`, parameters aside, passes `accepts`.
async fn body_type(
    request: Request,
    next: Next,
    wanted: &str,
    accepts: impl Fn(&str) -> bool,
) -> Response {
    let given = request
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or_default());
    let essence = given
        .and_then(|v| v.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase());
    if essence.as_deref().is_some_and(&accepts) {
        return next.run(request).await;
    }
    let given = given.map_or("none".to_string(), |v| format!("{v:?}"));
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!(
            "{} takes Content-Type: {wanted}, not {given}: send the body with that type",
            request.uri().path()
        ),
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_match_the_host_they_name() {
        let host = Some("127.0.0.1:8080");
        assert!(same_origin("http://127.0.0.1:8080", host));
        assert!(same_origin("http://LOCALHOST", Some("localhost:80")));
        assert!(same_origin("https://app.lan", Some("app.lan")));
        assert!(!same_origin("http://127.0.0.1:8081", host));
        assert!(!same_origin("http://attacker.example", host));
        assert!(!same_origin("null", host));
        assert!(!same_origin("http://127.0.0.1:8080", None));
    }

    #[test]
    fn host_names_and_ports_are_told_apart() {
        assert_eq!(split_port("localhost:80"), ("localhost", Some("80")));
        assert_eq!(split_port("[::1]:80"), ("[::1]", Some("80")));
        assert_eq!(split_port("[::1]"), ("[::1]", None));
        assert_eq!(split_port("a.lan"), ("a.lan", None));
        assert!(is_ip_literal("192.168.1.2") && is_ip_literal("[fe80::1]"));
        assert!(!is_ip_literal("1.2.3.4.evil.example") && !is_ip_literal("::1"));
    }

    #[test]
    fn beyond_loopback_ip_addresses_and_allowed_names_are_answered() {
        let allowed = ["MyBox.lan".to_string()];
        let loopback = Access::new("127.0.0.1:80".parse().unwrap(), &allowed);
        assert!(loopback.token().is_none());
        assert!(loopback.answers_to("localhost") && loopback.answers_to("mybox.LAN"));
        assert!(!loopback.answers_to("10.0.0.2") && !loopback.answers_to("evil.example"));
        // The loopback address it was told to listen on, as printed at start.
        let other_loopback = Access::new("127.0.0.2:80".parse().unwrap(), &[]);
        assert!(other_loopback.answers_to("127.0.0.2") && !other_loopback.answers_to("127.0.0.3"));
        let v6 = Access::new("[::1]:80".parse().unwrap(), &[]);
        assert!(v6.answers_to("[::1]") && !v6.answers_to("127.0.0.2"));
        let everywhere = Access::new("0.0.0.0:80".parse().unwrap(), &allowed);
        assert_eq!(everywhere.token().map(str::len), Some(48));
        assert!(everywhere.answers_to("10.0.0.2") && everywhere.answers_to("mybox.lan"));
        assert!(!everywhere.answers_to("evil.example"));
        assert!(
            same_secret("abc", "abc") && !same_secret("abd", "abc") && !same_secret("ab", "abc")
        );
    }
}
