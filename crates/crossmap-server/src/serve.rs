//! Serving the router over HTTP/1 with the limits `axum::serve` lacks: a time limit on request heads, and
//! a shutdown that waits for requests in flight but not for ever.

use crate::admin::faults::DropConnection;
use axum::Router;
use axum::extract::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// How [`serve`] treats slow clients and a shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeOptions {
    /// How long a client may take to send a whole request head, from its first byte or from the end of
    /// the previous request: a connection that sends half a head and stalls, or stays idle, is closed.
    pub header_read_timeout: Duration,
    /// After the shutdown signal: how long requests in flight may take to finish before every connection
    /// still open, stalled or idle, is closed and [`serve`] returns.
    pub shutdown_deadline: Duration,
}

impl Default for ServeOptions {
    /// 30 s for a request head (hyper's own default, were a timer set), 5 s to finish after a shutdown.
    fn default() -> Self {
        ServeOptions {
            header_read_timeout: Duration::from_secs(30),
            shutdown_deadline: Duration::from_secs(5),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes. Then it stops accepting, lets the requests in
/// flight finish (idle connections close at once), and after [`ServeOptions::shutdown_deadline`] closes
/// whatever connections remain; it returns once every connection is closed.
///
/// ```no_run
/// use crossmap_server::{AppState, Auth, ServeOptions, router, serve};
/// use crossmap_store::Store;
/// # async fn run() -> std::io::Result<()> {
/// let auth = Auth::ephemeral(vec!["app:secret:manage".parse().unwrap()]).unwrap();
/// let app = router(AppState::new(Store::in_memory(), auth));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// serve(listener, app, ServeOptions::default(), async {
///     let _ = tokio::signal::ctrl_c().await;
/// })
/// .await
/// # }
/// ```
pub async fn serve(
    listener: TcpListener,
    app: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: wait rather than spin, as axum does.
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let connection = http.serve_connection(TokioIo::new(stream), Dropping(TowerToHyperService::new(app.clone())));
                let mut stopping = stopping.clone();
                connections.spawn(async move {
                    let mut connection = std::pin::pin!(connection);
                    let result = tokio::select! {
                        result = connection.as_mut() => result,
                        _ = stopping.changed() => {
                            // Finish the request in flight, if any, then close.
                            connection.as_mut().graceful_shutdown();
                            connection.await
                        }
                    };
                    if let Err(e) = result {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
            }
            // Forget connections as they end, so the set holds only open ones.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stop.send(true);
    let open = connections.len();
    let drained = tokio::time::timeout(options.shutdown_deadline, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            of = open,
            "closing the connections still open at the shutdown deadline"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// The router as hyper's service, closing the connection without an answer when a `drop` fault says so:
/// a service error makes hyper close the connection and write nothing.
struct Dropping(TowerToHyperService<Router>);

/// The error that closes a connection for a `drop` fault.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by a fault rule")]
struct Dropped;

impl hyper::service::Service<hyper::Request<Incoming>> for Dropping {
    type Response = Response;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Self::Error>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let answer = self.0.call(request);
        Box::pin(async move {
            let response = answer.await?;
            if response.extensions().get::<DropConnection>().is_some() {
                return Err(Dropped.into());
            }
            Ok(response)
        })
    }
}
