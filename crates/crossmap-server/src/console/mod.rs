//! The web console at `/_crossmap/ui`: one HTML page, a script, a style sheet and an icon, embedded in the binary.
//!
//! The page reads and changes the emulator only through the admin plane's JSON endpoints (tenants,
//! mappings, journal, faults), so it can do nothing a test could not do with `curl`. No build step, no
//! network: the assets are the files beside this one, compiled in with `include_str!`.

use crate::error::ApiError;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One embedded file: its name under `ui/`, its content type and its text.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "",
        content_type: "text/html; charset=utf-8",
        body: include_str!("index.html"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("app.js"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("app.css"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_str!("favicon.svg"),
    },
];

/// Answers `rest`, the path after `/_crossmap/` (`ui`, `ui/`, `ui/app.js`, `ui/app.css`).
pub(crate) fn handle(method: &Method, rest: &str) -> Result<Response, ApiError> {
    let name = match rest.strip_prefix("ui") {
        Some("") => "",
        Some(tail) => tail
            .strip_prefix('/')
            .ok_or_else(|| ApiError::not_found(format!("no resource at /_crossmap/{rest}")))?,
        None => return Err(ApiError::not_found(format!("no resource at /_crossmap/{rest}"))),
    };
    let asset = ASSETS
        .iter()
        .find(|a| a.name == name)
        .ok_or_else(|| ApiError::not_found(format!("the console has no asset {name:?}")))?;
    if *method != Method::GET && *method != Method::HEAD {
        return Err(ApiError::method_not_allowed(method.as_str(), "GET, HEAD"));
    }
    let mut response = (StatusCode::OK, asset.body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    // The page may run no script but its own and load nothing from elsewhere.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; \
             base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(rest: &str) -> Result<Response, ApiError> {
        handle(&Method::GET, rest)
    }

    fn content_type(r: &Response) -> &str {
        r.headers()[header::CONTENT_TYPE].to_str().unwrap()
    }

    #[test]
    fn the_page_and_its_assets_are_served_with_their_types() {
        for (rest, ty) in [
            ("ui", "text/html"),
            ("ui/", "text/html"),
            ("ui/app.js", "text/javascript"),
            ("ui/app.css", "text/css"),
            ("ui/favicon.svg", "image/svg+xml"),
        ] {
            let r = get(rest).unwrap_or_else(|e| panic!("{rest}: {e:?}"));
            assert_eq!(r.status(), StatusCode::OK, "{rest}");
            assert!(content_type(&r).starts_with(ty), "{rest}: {}", content_type(&r));
            assert!(r.headers().contains_key(header::CONTENT_SECURITY_POLICY), "{rest}");
        }
    }

    #[test]
    fn the_page_loads_only_its_own_assets() {
        let html = ASSETS[0].body;
        assert!(html.contains(r#"src="/_crossmap/ui/app.js""#));
        assert!(html.contains(r#"href="/_crossmap/ui/app.css""#));
        // No CDN, no other origin: everything the page needs is embedded.
        for asset in ASSETS {
            // The SVG namespace is a name, not a place anything is fetched from.
            let body = asset.body.replace("http://www.w3.org/2000/svg", "");
            assert!(!body.contains("http://"), "{}", asset.name);
            assert!(!body.contains("https://"), "{}", asset.name);
        }
    }

    #[test]
    fn the_script_never_writes_html() {
        // Data goes into the DOM as text only (the journal shows whatever paths and user agents clients send).
        let js = ASSETS[1].body;
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
        ] {
            assert!(!js.contains(sink), "app.js uses {sink}");
        }
    }

    #[test]
    fn unknown_assets_are_404_and_other_methods_405() {
        for rest in ["ui/nope.js", "uix", "ui/../Cargo.toml"] {
            let e = get(rest).unwrap_err();
            assert_eq!(e.status, StatusCode::NOT_FOUND, "{rest}");
        }
        let e = handle(&Method::POST, "ui").unwrap_err();
        assert_eq!(e.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(e.allow, Some("GET, HEAD"));
        assert_eq!(handle(&Method::HEAD, "ui/app.js").unwrap().status(), StatusCode::OK);
    }
}
