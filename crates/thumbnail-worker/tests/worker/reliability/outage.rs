//! Outage: the S3/SQS/SNS endpoint goes away for 20 s in the middle of a run and comes back. The
//! worker reaches the test server through a loopback proxy; taking the proxy down closes its port
//! (new connections are refused) and cuts every open connection, which is what the worker sees
//! when the server stops, while the server keeps its state (queues, objects) for the return. The
//! worker must log the outage, back off without spinning the CPU, stay up, and finish every image,
//! including those uploaded during the outage. Then the endpoint freezes: connections stay open and
//! unanswered for ever, and the worker must get past them.

use std::time::{Duration, Instant};

use thumbnail_tests::{JpegOptions, free_port, jpeg, quadrants, sigterm};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::reliability::rig::{Backend, Rig, cpu_time, report};

/// What the proxy does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Forwards every connection.
    Up,
    /// Its port is closed: connections are refused, and open ones were cut.
    Down,
    /// Answers nothing and closes nothing: connections open at the freeze, and those accepted
    /// during it, hang for ever (a frozen server, or a NAT that dropped the flow silently).
    Frozen,
}

/// A TCP proxy on a loopback port to `target`, switched between [`Mode`]s.
struct Proxy {
    port: u16,
    mode: watch::Sender<Mode>,
}

impl Proxy {
    fn start(runtime: &tokio::runtime::Handle, target: String) -> Proxy {
        let port = free_port();
        let (mode, mut state) = watch::channel(Mode::Up);
        runtime.spawn(async move {
            loop {
                if state.wait_for(|m| *m != Mode::Down).await.is_err() {
                    return;
                }
                let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
                let mut connections = JoinSet::new();
                let mut going_down = state.clone();
                loop {
                    tokio::select! {
                        accepted = listener.accept() => {
                            let Ok((mut inbound, _)) = accepted else { continue };
                            let (target, mut state) = (target.clone(), state.clone());
                            connections.spawn(async move {
                                let frozen = *state.borrow() == Mode::Frozen;
                                if frozen {
                                    let _held = inbound;
                                    return std::future::pending().await;
                                }
                                let Ok(mut outbound) = TcpStream::connect(&target).await else {
                                    return;
                                };
                                let freezing = async {
                                    let _ = state.wait_for(|m| *m == Mode::Frozen).await;
                                };
                                let cut_short = tokio::select! {
                                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => false,
                                    () = freezing => true,
                                };
                                if cut_short {
                                    // Both ends stay open, and silent.
                                    std::future::pending::<()>().await;
                                }
                            });
                        }
                        _ = going_down.wait_for(|m| *m == Mode::Down) => break,
                    }
                }
                // The port closes, and every open connection is cut.
                drop(listener);
                connections.abort_all();
            }
        });
        Proxy { port, mode }
    }

    fn set(&self, mode: Mode) {
        self.mode.send(mode).unwrap();
    }
}

#[test]
fn outage_aws() {
    let Some(mut rig) = Rig::new(
        Backend::Aws,
        "outage",
        &[("visibility", "5"), ("concurrency", "2")],
    ) else {
        return;
    };
    let server = std::env::var("AWS_ENDPOINT_URL").unwrap();
    let target = server.trim_start_matches("http://").trim_end_matches('/');
    let proxy = Proxy::start(rig.runtime(), target.to_owned());
    rig.env.insert(
        "AWS_ENDPOINT_URL".into(),
        format!("http://127.0.0.1:{}", proxy.port),
    );
    const OUTAGE: Duration = Duration::from_secs(20);
    const BEFORE: usize = 30;
    const DURING: usize = 10;
    const FREEZE: Duration = Duration::from_secs(10);
    const AFTER: usize = 5;
    let photo = |i: usize| {
        jpeg(
            &quadrants(1200 + i as u32 * 8, 900),
            &JpegOptions::default(),
        )
    };
    for i in 0..BEFORE {
        rig.upload(&format!("o/{i:02}.jpg"), &photo(i));
    }
    let made = |rig: &Rig| {
        rig.thumbnail_keys()
            .iter()
            .filter(|k| k.ends_with("/manifest.json"))
            .count()
    };
    let mut worker = rig.start(&[]);
    rig.wait_for("the first thumbnails", Duration::from_secs(60), || {
        made(&rig) >= 5
    });

    proxy.set(Mode::Down);
    let cpu_before = cpu_time(worker.id());
    let down_at = Instant::now();
    let done_before = made(&rig);
    for i in BEFORE..BEFORE + DURING {
        rig.upload(&format!("o/{i:02}.jpg"), &photo(i));
    }
    std::thread::sleep(OUTAGE.saturating_sub(down_at.elapsed()));
    let cpu = cpu_time(worker.id()) - cpu_before;
    assert!(
        worker.try_wait().unwrap().is_none(),
        "the worker exited during the outage:\n{}",
        rig.logs()
    );
    proxy.set(Mode::Up);
    let up_at = Instant::now();
    assert!(
        cpu < OUTAGE / 10,
        "{cpu:?} of CPU in a {OUTAGE:?} outage: spinning"
    );

    rig.wait_for(
        "every image after the outage",
        Duration::from_secs(120),
        || made(&rig) == BEFORE + DURING && rig.queued() == 0,
    );
    let recovered_in = up_at.elapsed();

    // Then the endpoint freezes for 10 s with uploads waiting: the requests in flight, and those
    // that connect meanwhile, never get an answer nor a close. Only a limit on the wait for a
    // response lets the worker go on with new connections once the endpoint is back.
    for i in BEFORE + DURING..BEFORE + DURING + AFTER {
        rig.upload(&format!("o/{i:02}.jpg"), &photo(i));
    }
    proxy.set(Mode::Frozen);
    std::thread::sleep(FREEZE);
    proxy.set(Mode::Up);
    let thawed_at = Instant::now();
    let total = BEFORE + DURING + AFTER;
    rig.wait_for(
        "every image after the freeze",
        Duration::from_secs(120),
        || made(&rig) == total && rig.queued() == 0,
    );
    let thawed_in = thawed_at.elapsed();
    assert!(sigterm(worker, Duration::from_secs(30)).success());

    for i in 0..total {
        for name in ["profile.jpg", "wide.jpg"] {
            assert!(rig.has_thumbnail(&format!("o/{i:02}.jpg/{name}")));
        }
    }
    let announced: std::collections::BTreeSet<String> = rig
        .notifications()
        .iter()
        .map(|n| n["subject"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(announced.len(), total, "{announced:?}");
    assert!(announced.iter().all(|s| s.starts_with("Thumbnails ready")));
    let log = rig.logs();
    let warnings = log
        .lines()
        .filter(|l| l.contains("cannot receive messages"))
        .count();
    assert!(warnings >= 1, "the outage is not in the log:\n{log}");
    assert!(
        warnings <= 20,
        "{warnings} receive failures logged in {OUTAGE:?}: no backoff"
    );
    assert!(log.contains("receiving messages again"), "{log}");
    report(
        "outage",
        Backend::Aws,
        &format!(
            "outage (Aws): endpoint down {:.0} s after {done_before} of {BEFORE} images, {DURING} \
             uploaded meanwhile; worker stayed up, CPU {:.2} s during the outage, {warnings} receive \
             failures logged; all {} done {:.1} s after the endpoint returned. Then frozen {:.0} s \
             (connections held, never answered) with {AFTER} uploads waiting: all {total} done \
             {:.1} s after it thawed",
            OUTAGE.as_secs_f64(),
            cpu.as_secs_f64(),
            BEFORE + DURING,
            recovered_in.as_secs_f64(),
            FREEZE.as_secs_f64(),
            thawed_in.as_secs_f64()
        ),
    );
}
