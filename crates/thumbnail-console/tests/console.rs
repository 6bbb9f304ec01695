//! The console over real HTTP on loopback: signed links (the local store's preview URLs) served
//! from the thumbnail bucket and nowhere else, uploads, escaping, dead-letter replay, the
//! operations routes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;
use thumbnail_console::{Console, Feed};
use thumbnail_queue::{MemoryQueue, OutgoingMessage, Queue, ReceiveOptions};
use thumbnail_storage::links::LinkSigner;
use thumbnail_storage::{LocalStore, ObjectKey, ObjectStore, PutOptions, conformance};
use thumbnail_test_aws::servers::{attribute, multipart, request};
use tokio::sync::watch;

const SECRET: [u8; 32] = [9; 32];

struct Served {
    port: u16,
    root: PathBuf,
    signer: LinkSigner,
    source: Arc<dyn ObjectStore>,
    queue: Arc<MemoryQueue>,
    dead: Arc<MemoryQueue>,
    stopping: watch::Sender<bool>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A console on a free port: the thumbnail bucket is `ROOT/thumbnails`, beside `ROOT/uploads`.
async fn served(name: &str) -> Served {
    served_with(name, None).await
}

/// The largest file the served console takes: 1 MiB, to test the limit with small bodies.
const MAX_UPLOAD: u64 = 1 << 20;

/// [`served`], asking for `token` when one is given.
async fn served_with(name: &str, token: Option<&str>) -> Served {
    let root =
        std::env::temp_dir().join(format!("thumbnail-console-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let signer = LinkSigner::new(&format!("http://127.0.0.1:{port}"), SECRET);
    let source: Arc<dyn ObjectStore> = Arc::new(LocalStore::new(root.join("uploads")).unwrap());
    let (queue, dead) = (
        Arc::new(MemoryQueue::new("jobs")),
        Arc::new(MemoryQueue::new("dead")),
    );
    let console = Console {
        source: Arc::clone(&source),
        thumbnails: Arc::new(LocalStore::new(root.join("thumbnails")).unwrap()),
        queue: queue.clone(),
        dead_letters: Some(dead.clone()),
        presets: vec![
            thumbnail_core::Presets::builtin()
                .require("profile")
                .unwrap()
                .clone(),
        ],
        links: Some(signer.clone()),
        reserved_prefix: Some("thumbs".into()),
        hosts: vec!["thumbs.example.com".into()],
        token: token.map(str::to_owned),
        max_upload_bytes: MAX_UPLOAD,
        feed: Feed::new(),
    };
    let (stopping, stopped) = watch::channel(false);
    let router = console.router(Arc::new(Registry::default()), stopped);
    thumbnail_console::serve(([127, 0, 0, 1], port).into(), router)
        .await
        .unwrap();
    Served {
        port,
        root,
        signer,
        source,
        queue,
        dead,
        stopping,
    }
}

async fn get(port: u16, path: &str) -> (u16, String, Vec<u8>) {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || request(port, &format!("GET {path}"), b""))
        .await
        .unwrap()
}

/// The path and query of a link.
fn path_of(link: &str) -> String {
    link.split_once("127.0.0.1:")
        .unwrap()
        .1
        .split_once('/')
        .map(|(_, p)| format!("/{p}"))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_local_store_with_signed_links_conforms() {
    let served = served("conformance").await;
    let store = LocalStore::new(served.root.join("thumbnails"))
        .unwrap()
        .with_links(served.signer.clone());
    conformance::run(&store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn links_serve_their_object_until_expired_and_never_once_altered() {
    let served = served("links").await;
    let store = LocalStore::new(served.root.join("thumbnails"))
        .unwrap()
        .with_links(served.signer.clone());
    let put = |key: &str, bytes: &[u8]| {
        let (store, key, bytes) = (&store, ObjectKey::new(key).unwrap(), bytes.to_vec());
        async move {
            store
                .put(&key, bytes, &PutOptions::new("image/jpeg"))
                .await
                .unwrap();
            store
                .preview_url(&key, Duration::from_secs(600))
                .await
                .unwrap()
        }
    };
    let awkward = put("My Photos/é+1 100%?#.jpg/profile.jpg", b"awkward").await;
    let other = put("other.jpg", b"other").await;
    let (status, head, body) = get(served.port, &path_of(&awkward)).await;
    assert_eq!((status, body.as_slice()), (200, &b"awkward"[..]), "{head}");
    assert!(
        head.to_lowercase().contains("content-type: image/jpeg"),
        "{head}"
    );

    let (path, query) = path_of(&awkward)
        .split_once('?')
        .map(|(p, q)| (p.to_owned(), q.to_owned()))
        .unwrap();
    let (other_path, _) = path_of(&other)
        .split_once('?')
        .map(|(p, q)| (p.to_owned(), q.to_owned()))
        .unwrap();
    let expires: u64 = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("expires="))
        .unwrap()
        .parse()
        .unwrap();
    let signature = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("signature="))
        .unwrap()
        .to_owned();
    let flipped = format!(
        "{}{}",
        &signature[..63],
        if signature.ends_with('0') { '1' } else { '0' }
    );
    for (what, link) in [
        ("another key", format!("{other_path}?{query}")),
        (
            "a later expiry",
            format!("{path}?expires={}&signature={signature}", expires + 3600),
        ),
        (
            "a changed signature",
            format!("{path}?expires={expires}&signature={flipped}"),
        ),
        ("no signature", path.clone()),
    ] {
        let (status, _, body) = get(served.port, &link).await;
        assert_eq!(status, 403, "{what}: {}", String::from_utf8_lossy(&body));
    }
    let expired = served
        .signer
        .sign(&ObjectKey::new("other.jpg").unwrap(), Duration::ZERO);
    let (status, _, body) = get(served.port, &path_of(&expired)).await;
    assert_eq!(
        (status, String::from_utf8_lossy(&body).trim()),
        (403, "the link expired")
    );
    let missing = served.signer.sign(
        &ObjectKey::new("missing.jpg").unwrap(),
        Duration::from_secs(60),
    );
    assert_eq!(get(served.port, &path_of(&missing)).await.0, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_outside_the_thumbnail_bucket_is_served() {
    let served = served("outside").await;
    let secret = ObjectKey::new("secret.jpg").unwrap();
    served
        .source
        .put(
            &secret,
            b"private upload".to_vec(),
            &PutOptions::new("image/jpeg"),
        )
        .await
        .unwrap();
    std::fs::create_dir_all(served.root.join("thumbnails")).unwrap();
    std::os::unix::fs::symlink(
        served.root.join("uploads/secret.jpg"),
        served.root.join("thumbnails/link.jpg"),
    )
    .unwrap();
    // Signed with the real secret, as if the signer had been fooled: the store still refuses.
    let mac = |key: &str| {
        use hmac::Mac;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let expires = now + 600;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&SECRET).unwrap();
        mac.update(&(key.len() as u64).to_be_bytes());
        mac.update(key.as_bytes());
        mac.update(&expires.to_be_bytes());
        format!(
            "expires={expires}&signature={}",
            hex::encode(mac.finalize().into_bytes())
        )
    };
    for (key, path) in [
        ("../uploads/secret.jpg", "/files/../uploads/secret.jpg"),
        ("../uploads/secret.jpg", "/files/%2E%2E/uploads/secret.jpg"),
        ("link.jpg", "/files/link.jpg"),
        ("/etc/passwd", "/files//etc/passwd"),
    ] {
        let (status, _, body) = get(served.port, &format!("{path}?{}", mac(key))).await;
        assert_ne!(status, 200, "{path}");
        assert!(
            !String::from_utf8_lossy(&body).contains("private upload"),
            "{path}"
        );
    }
}

async fn post(port: u16, head: String, body: Vec<u8>) -> (u16, String, Vec<u8>) {
    tokio::task::spawn_blocking(move || request(port, &head, &body))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_land_in_the_source_bucket_and_their_keys_show_as_text() {
    let served = served("uploads").await;
    let hostile = "<img src=x onerror=alert(1)>.jpg";
    let (content_type, body) = multipart(&[(hostile, b"jpeg bytes"), ("a/../b.jpg", b"x")]);
    let (status, _, _) = post(
        served.port,
        format!("POST /uploads\n{content_type}"),
        body.clone(),
    )
    .await;
    assert_eq!(status, 403, "without the console's header: refused");
    let (status, _, answer) = post(
        served.port,
        format!("POST /uploads\n{content_type}\nX-Thumbnail-Console: 1"),
        body,
    )
    .await;
    assert_eq!(status, 200);
    let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["uploaded"], serde_json::json!([hostile]));
    assert_eq!(answer["refused"][0]["name"], "a/../b.jpg");
    let object = served
        .source
        .get(&ObjectKey::new(hostile).unwrap(), 100)
        .await
        .unwrap();
    assert_eq!(object.bytes, b"jpeg bytes");

    let (_, head, page) = get(served.port, "/").await;
    let page = String::from_utf8(page).unwrap();
    assert!(
        page.contains("&lt;img src=x onerror=alert(1)&gt;.jpg"),
        "{page}"
    );
    assert!(!page.contains("<img src=x"), "{page}");
    assert!(
        head.to_lowercase()
            .contains("content-security-policy: default-src 'self'"),
        "{head}"
    );
    assert!(
        page.contains("<b>profile</b> 128x128 cover"),
        "the presets are listed"
    );

    // A page that connects now gets the entry, escaped, as its first event.
    let port = served.port;
    let first_event = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(stream, "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
        let mut seen = Vec::new();
        let mut chunk = [0u8; 4096];
        while !String::from_utf8_lossy(&seen).contains("\n\n")
            || !String::from_utf8_lossy(&seen).contains("event: entry")
        {
            let n = stream.read(&mut chunk).unwrap();
            assert!(n > 0, "the stream ended");
            seen.extend_from_slice(&chunk[..n]);
        }
        String::from_utf8(seen).unwrap()
    })
    .await
    .unwrap();
    assert!(first_event.contains("text/event-stream"), "{first_event}");
    assert!(
        first_event.contains("&lt;img src=x onerror=alert(1)&gt;.jpg"),
        "{first_event}"
    );
    assert!(
        first_event.contains("waiting for the worker"),
        "{first_event}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_letters_are_listed_escaped_and_replayed_to_the_queue() {
    let served = served("dead").await;
    let event = thumbnail_events::created_event("test", "uploads", "<b>late</b>.jpg", 10, None);
    served
        .dead
        .send(OutgoingMessage::new(event.clone()))
        .await
        .unwrap();
    let (status, _, fragment) = get(served.port, "/fragments/status").await;
    let fragment = String::from_utf8(fragment).unwrap();
    assert_eq!(status, 200);
    assert!(
        fragment.contains("&lt;b&gt;late&lt;/b&gt;.jpg") && !fragment.contains("<b>late"),
        "{fragment}"
    );
    let id = attribute(&fragment, "data-replay");

    let replay = format!("POST /dead-letters/{id}/replay");
    assert_eq!(post(served.port, replay.clone(), vec![]).await.0, 403);
    // Replayed once; then it is gone.
    for expected in [200, 404] {
        let from_page = format!("{replay}\nX-Thumbnail-Console: 1");
        assert_eq!(post(served.port, from_page, vec![]).await.0, expected);
    }
    let options = ReceiveOptions {
        max_messages: 10,
        wait: Duration::ZERO,
        visibility: Duration::from_secs(30),
    };
    let moved = served.queue.receive(&options).await.unwrap();
    assert_eq!(
        moved.iter().map(|d| d.body.as_str()).collect::<Vec<_>>(),
        [event.as_str()]
    );
    assert_eq!(served.dead.depth().await.unwrap().total(), 0);
    let (_, _, fragment) = get(served.port, "/fragments/status").await;
    assert!(
        String::from_utf8(fragment)
            .unwrap()
            .contains("no-dead-letters")
    );
}

/// An upload cannot replace a thumbnail nor plant a page: a key under the thumbnails' prefix is
/// refused, an upload's type is what its bytes are (not what the browser says), and a signed link
/// serves only image types as such (anything else as a download), with nosniff and a sandboxing
/// Content-Security-Policy.
#[tokio::test(flavor = "multi_thread")]
async fn uploads_cannot_replace_thumbnails_nor_plant_pages() {
    let served = served("stored-script").await;
    let script = b"<html><script>alert(document.cookie)</script></html>";
    let (content_type, body) =
        multipart(&[("thumbs/holiday/profile.jpg", script), ("page.jpg", script)]);
    let (status, _, answer) = post(
        served.port,
        format!("POST /uploads\n{content_type}\nX-Thumbnail-Console: 1"),
        body,
    )
    .await;
    assert_eq!(status, 200);
    let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["refused"][0]["name"], "thumbs/holiday/profile.jpg");
    assert!(
        answer["refused"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("where thumbnails are kept"),
        "{answer}"
    );
    assert_eq!(answer["uploaded"], serde_json::json!(["page.jpg"]));
    let reserved = ObjectKey::new("thumbs/holiday/profile.jpg").unwrap();
    assert!(!served.source.exists(&reserved).await.unwrap());
    let stored = served
        .source
        .get(&ObjectKey::new("page.jpg").unwrap(), 1000)
        .await
        .unwrap();
    assert_eq!(
        stored.info.content_type.as_deref(),
        Some("application/octet-stream"),
        "typed from its bytes"
    );

    // An object in the thumbnail bucket that is not an image (put there by other means).
    let thumbnails = LocalStore::new(served.root.join("thumbnails")).unwrap();
    let key = ObjectKey::new("holiday/profile.jpg").unwrap();
    thumbnails
        .put(&key, script.to_vec(), &PutOptions::new("text/html"))
        .await
        .unwrap();
    let link = served.signer.sign(&key, Duration::from_secs(60));
    let (status, head, bytes) = get(served.port, &path_of(&link)).await;
    assert_eq!(status, 200);
    let head = head.to_lowercase();
    for expected in [
        "content-type: application/octet-stream",
        "content-disposition: attachment",
        "x-content-type-options: nosniff",
        "content-security-policy: default-src 'none'; sandbox",
    ] {
        assert!(head.contains(expected), "{expected}: {head}");
    }
    assert_eq!(bytes, script);
}

/// Views of the console at the same moment each list every dead letter (a listing takes none from
/// the queue), and a replay of a listed letter finds it while they look.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_views_list_every_dead_letter_and_a_replay_finds_its_own() {
    let served = served("dead-views").await;
    const LETTERS: usize = 200;
    for i in 0..LETTERS {
        let event =
            thumbnail_events::created_event("test", "uploads", &format!("d{i}.jpg"), 10, None);
        served.dead.send(OutgoingMessage::new(event)).await.unwrap();
    }
    let (_, _, first) = get(served.port, "/fragments/status").await;
    let replayed = attribute(&String::from_utf8(first).unwrap(), "data-replay");
    let views: Vec<_> = (0..4)
        .map(|_| tokio::spawn(get(served.port, "/fragments/status")))
        .collect();
    let replay = tokio::spawn(post(
        served.port,
        format!("POST /dead-letters/{replayed}/replay\nX-Thumbnail-Console: 1"),
        vec![],
    ));
    assert_eq!(
        replay.await.unwrap().0,
        200,
        "the replay did not find its letter"
    );
    for view in views {
        let (status, _, fragment) = view.await.unwrap();
        assert_eq!(status, 200);
        let listed = String::from_utf8(fragment)
            .unwrap()
            .matches("class=\"dead-letter\"")
            .count();
        // Before or after the replay, each view shows every letter there was.
        assert!(
            listed == LETTERS || listed == LETTERS - 1,
            "a view listed {listed} of {LETTERS}"
        );
    }
    assert_eq!(
        served.dead.depth().await.unwrap().total(),
        LETTERS as u64 - 1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn health_turns_503_when_stopping_and_metrics_are_openmetrics() {
    let served = served("ops").await;
    assert_eq!(get(served.port, "/healthz").await.0, 200);
    let (status, head, _) = get(served.port, "/metrics").await;
    assert_eq!(status, 200);
    assert!(head.contains("application/openmetrics-text"), "{head}");
    served.stopping.send(true).unwrap();
    assert_eq!(get(served.port, "/healthz").await.0, 503);
}

/// The status of `GET path` sent with `Host: host` and, if given, basic authentication as
/// `user:password`.
fn status_as(port: u16, host: &str, login: Option<&str>, path: &str) -> u16 {
    use base64::Engine as _;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let authorization = login.map_or(String::new(), |login| {
        let encoded = base64::engine::general_purpose::STANDARD.encode(login);
        format!("Authorization: Basic {encoded}\r\n")
    });
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\n{authorization}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    String::from_utf8_lossy(&response[9..12]).parse().unwrap()
}

/// DNS rebinding: a page whose name was made to point at 127.0.0.1 reaches the console under
/// that name, and gets 421; the console's own names get in. With a token, every page and action
/// asks for it, and only signed links, /healthz and /metrics do without.
#[tokio::test(flavor = "multi_thread")]
async fn only_its_own_host_names_and_with_a_token_only_who_gives_it_get_in() {
    let open = served("hosts").await;
    let port = open.port;
    let statuses = tokio::task::spawn_blocking(move || {
        [
            status_as(port, "rebound.example", None, "/"),
            status_as(
                port,
                &format!("rebound.example:{port}"),
                None,
                "/fragments/status",
            ),
            status_as(port, &format!("127.0.0.1:{port}"), None, "/"),
            status_as(port, "localhost", None, "/"),
            status_as(port, &format!("[::1]:{port}"), None, "/"),
            status_as(port, "THUMBS.example.com", None, "/"),
            status_as(port, "rebound.example", None, "/healthz"),
        ]
    })
    .await
    .unwrap();
    assert_eq!(statuses, [421, 421, 200, 200, 200, 200, 200]);

    let guarded = served_with("token", Some("s3cret")).await;
    let port = guarded.port;
    let key = ObjectKey::new("a/profile.jpg").unwrap();
    LocalStore::new(guarded.root.join("thumbnails"))
        .unwrap()
        .put(
            &key,
            b"\xFF\xD8\xFF".to_vec(),
            &PutOptions::new("image/jpeg"),
        )
        .await
        .unwrap();
    let link = path_of(&guarded.signer.sign(&key, Duration::from_secs(60)));
    let statuses = tokio::task::spawn_blocking(move || {
        let host = format!("127.0.0.1:{port}");
        [
            status_as(port, &host, None, "/"),
            status_as(port, &host, Some("anyone:guess"), "/"),
            status_as(port, &host, Some("anyone:s3cret"), "/"),
            status_as(port, &host, Some("me:s3cret"), "/fragments/status"),
            status_as(port, "rebound.example", Some("me:s3cret"), "/"),
            status_as(port, &host, None, &link),
            status_as(port, &host, None, "/healthz"),
        ]
    })
    .await
    .unwrap();
    assert_eq!(statuses, [401, 401, 200, 200, 421, 200, 200]);
}

/// Each file at most the limit (a larger one refused with 413 and the JSON the page shows, the
/// others of the request stored), at most 100 files a request, at most 4 uploads at once; no
/// answer names a server path.
#[tokio::test(flavor = "multi_thread")]
async fn uploads_are_bounded_in_size_in_files_and_at_once() {
    let served = served("bounded").await;
    let upload = |files: Vec<(String, Vec<u8>)>| {
        let port = served.port;
        async move {
            let named: Vec<(&str, &[u8])> = files
                .iter()
                .map(|(n, b)| (n.as_str(), b.as_slice()))
                .collect();
            let (content_type, body) = multipart(&named);
            let head = format!("POST /uploads\n{content_type}\nX-Thumbnail-Console: 1");
            let (status, _, answer) = post(port, head, body).await;
            let text = String::from_utf8(answer).unwrap();
            let answer: serde_json::Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {text}"));
            (status, answer, text)
        }
    };
    let small = vec![7u8; 1000];
    let over = vec![7u8; MAX_UPLOAD as usize + 1];
    let (status, answer, text) = upload(vec![
        ("first.jpg".into(), small.clone()),
        ("big.jpg".into(), over),
        ("after.jpg".into(), small.clone()),
    ])
    .await;
    assert_eq!(status, 413, "{text}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("over the limit of 1 MiB"),
        "{text}"
    );
    assert_eq!(
        answer["uploaded"],
        serde_json::json!(["first.jpg", "after.jpg"])
    );
    assert_eq!(answer["refused"][0]["name"], "big.jpg");
    let big = ObjectKey::new("big.jpg").unwrap();
    assert!(!served.source.exists(&big).await.unwrap());
    assert!(!text.contains(&*served.root.to_string_lossy()), "{text}");
    // Exactly at the limit is taken.
    let (status, _, text) = upload(vec![("edge.jpg".into(), vec![7; MAX_UPLOAD as usize])]).await;
    assert_eq!(status, 200, "{text}");

    let many: Vec<(String, Vec<u8>)> = (0..101)
        .map(|i| (format!("m{i:03}.jpg"), vec![1; 10]))
        .collect();
    let (status, answer, text) = upload(many).await;
    assert_eq!(status, 413, "{text}");
    assert_eq!(answer["uploaded"].as_array().unwrap().len(), 100, "{text}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("at most 100 files"),
        "{text}"
    );
    let last = ObjectKey::new("m100.jpg").unwrap();
    assert!(!served.source.exists(&last).await.unwrap());

    // Four uploads that stall after their first bytes hold every slot: the next is told to
    // wait (503), and is taken once they are gone. (Their requests may reach the handler after a
    // probe's; one that was itself answered 503 is replaced until four hold.)
    let port = served.port;
    let stall = |i: usize| {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            stream,
            "POST /uploads HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Thumbnail-Console: 1\r\n\
             Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n\
             --b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"s{i}.jpg\"\r\n\r\nabc"
        )
        .unwrap();
        stream.set_nonblocking(true).unwrap();
        stream
    };
    let answered = |stream: &mut TcpStream| stream.read(&mut [0; 64]).is_ok();
    let mut stalled: Vec<TcpStream> = (0..thumbnail_console::upload::AT_ONCE).map(stall).collect();
    let started = std::time::Instant::now();
    loop {
        let (status, answer, text) = upload(vec![("late.jpg".into(), small.clone())]).await;
        if status == 503 {
            assert!(
                answer["error"].as_str().unwrap().contains("under way"),
                "{text}"
            );
            break;
        }
        assert_eq!(status, 200, "{text}");
        assert!(started.elapsed() < Duration::from_secs(10), "never refused");
        for (i, stream) in stalled.iter_mut().enumerate() {
            if answered(stream) {
                *stream = stall(i);
            }
        }
    }
    drop(stalled);
    let started = std::time::Instant::now();
    while upload(vec![("later.jpg".into(), small.clone())]).await.0 != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the slots never freed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for i in 0..thumbnail_console::upload::AT_ONCE {
        let partial = ObjectKey::new(format!("s{i}.jpg")).unwrap();
        assert!(
            !served.source.exists(&partial).await.unwrap(),
            "a cut upload is not stored"
        );
    }
}
