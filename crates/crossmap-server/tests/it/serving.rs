//! `serve`: stalled clients are cut off, and a shutdown finishes what is in flight and then stops, on time.

use crate::support::{TENANT, apps, group};
use crossmap_server::{AppState, Auth, ServeOptions, router, serve};
use crossmap_store::Store;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A server on a free port with `options`, stopped when the sender fires; its address and its task.
async fn start(
    options: ServeOptions,
) -> (
    String,
    Auth,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let auth = Auth::new(b"test-key".to_vec(), apps());
    let app = router(AppState::new(Store::in_memory(), auth.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, app, options, async {
        let _ = stopped.await;
    }));
    (addr, auth, stop, task)
}

/// Half a request head, then nothing.
fn stalled(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /beta/$metadata HTTP/1.1\r\nHost: x\r\n").unwrap();
    s
}

/// Whether the server closed `s` within `limit` (a read ends or fails rather than time out).
fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue, // an answer to the half request, if the server sends one before closing
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true, // reset
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stalls_in_its_request_head_is_cut_off() {
    let options = ServeOptions {
        header_read_timeout: Duration::from_millis(300),
        shutdown_deadline: Duration::from_secs(5),
    };
    let (addr, _auth, stop, task) = start(options).await;
    let start = Instant::now();
    let closed = tokio::task::spawn_blocking(move || closed_within(&mut stalled(&addr), Duration::from_secs(10)))
        .await
        .unwrap();
    assert!(closed, "a half-sent head kept its connection open for 10 s");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "closed only after {:?}",
        start.elapsed()
    );
    assert!(!task.is_finished(), "the server itself keeps running");
    let _ = stop.send(());
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_finishes_requests_in_flight_and_stops_by_its_deadline() {
    let options = ServeOptions {
        header_read_timeout: Duration::from_secs(60), // so that only the deadline can end the stalled client
        shutdown_deadline: Duration::from_secs(2),
    };
    let (addr, auth, stop, task) = start(options).await;
    let token = auth.client_credentials(TENANT, "writer", "w-secret").unwrap();
    let mut stalled = stalled(&addr);
    // A request in flight: its head and half its body are sent before the shutdown, the rest after.
    let body = serde_json::json!({"@context": "#$delta", "value": [group(1)]}).to_string();
    let (first, rest) = body.split_at(body.len() / 2);
    let mut in_flight = TcpStream::connect(&addr).unwrap();
    write!(
        in_flight,
        "PATCH /beta/solutions/sharePoint/migrations/crossOrganizationGroupMappings HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{first}",
        body.len()
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopped_at = Instant::now();
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        TcpStream::connect(&addr).is_err(),
        "a new connection was accepted after the shutdown"
    );
    in_flight.write_all(rest.as_bytes()).unwrap();
    let answer = tokio::task::spawn_blocking(move || {
        in_flight.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut out = Vec::new();
        let _ = in_flight.read_to_end(&mut out); // the server closes after answering: it is stopping
        String::from_utf8_lossy(&out).into_owned()
    })
    .await
    .unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "the request in flight was not finished: {answer:?}"
    );
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("serve returned within its deadline")
        .unwrap()
        .unwrap();
    let took = stopped_at.elapsed();
    assert!(
        took < Duration::from_secs(4),
        "serve took {took:?} to stop with a 2 s deadline"
    );
    assert!(
        tokio::task::spawn_blocking(move || closed_within(&mut stalled, Duration::from_secs(2)))
            .await
            .unwrap(),
        "the stalled connection is closed"
    );
}
