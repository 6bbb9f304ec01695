#!/usr/bin/env bash
# Measures the Lambda function as deployed: the release binary's size; the time from process start
# to ready for the first event; the peak RSS of the process handling one invocation (the largest
# JPEG alone, then every image of the folder in turn); the handler time per image. The function runs
# the real release binary under cargo lambda's runtime API emulator, at AWS_LAMBDA_FUNCTION_MEMORY_SIZE
# =128, against moto on loopback (no topic: notifications go to the log, so only S3 is on the wire).
#
# Usage: benches/lambda.sh [IMAGE_FOLDER]   (default ../shared/corpus; needs scripts/test's venv)
set -euo pipefail
cd "$(dirname "$0")/.."
folder=$(realpath "${1:-../shared/corpus}")
venv=target/moto-venv
[ -x "$venv/bin/cargo-lambda" ] || { echo "run scripts/test once first: it installs $venv"; exit 1; }

# The `dist` profile: what `cargo lambda build --profile dist` deploys (fat LTO, stripped).
cargo build --profile dist -p thumbnail-lambda --quiet
bin=target/dist/thumbnail-lambda
echo "binary: $(stat -c %s "$bin") bytes ($(numfmt --to=iec-i --suffix=B "$(stat -c %s "$bin")")), $(uname -m), dist profile"

exec "$venv/bin/python" - "$folder" "$bin" "$venv" <<'PY'
import json, os, socket, subprocess, sys, threading, time, urllib.request
import boto3

folder, binary, venv = sys.argv[1:4]
images = sorted(f for f in os.listdir(folder) if f.lower().endswith((".jpg", ".jpeg", ".png", ".webp")))
largest = max((f for f in images if f.lower().endswith((".jpg", ".jpeg"))),
              key=lambda f: os.path.getsize(os.path.join(folder, f)))

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close(); return port

def wait_port(port, what):
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close(); return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"{what} did not start")

started = []
def start(args, **kw):
    p = subprocess.Popen(args, **kw); started.append(p); return p

try:
    moto_port = free_port()
    start([f"{venv}/bin/moto_server", "-H", "127.0.0.1", "-p", str(moto_port)],
          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(moto_port, "moto")
    env = dict(os.environ, AWS_ENDPOINT_URL=f"http://127.0.0.1:{moto_port}", AWS_REGION="eu-west-3",
               AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    env.pop("AWS_PROFILE", None)
    s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="eu-west-3",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    for bucket in ("bench-uploads", "bench-thumbs"):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-3"})
    for name in images:
        s3.upload_file(os.path.join(folder, name), "bench-uploads", name)

    def event(name):
        body = {"Records": [{"eventName": "ObjectCreated:Put", "s3": {
            "bucket": {"name": "bench-uploads"}, "object": {"key": name}}}]}
        return {"Records": [{"messageId": name, "body": json.dumps(body), "eventSource": "aws:sqs",
                             "attributes": {"ApproximateReceiveCount": "1"}}]}

    def session(names):
        """A fresh function process: start-up time, then one invocation per image; its peak RSS."""
        port = free_port()
        start([f"{venv}/bin/cargo-lambda", "lambda", "watch", "--only-lambda-apis",
               "-A", "127.0.0.1", "-P", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(port, "cargo lambda watch")
        fenv = dict(env, AWS_LAMBDA_RUNTIME_API=f"http://127.0.0.1:{port}/.rt",
                    AWS_LAMBDA_FUNCTION_NAME="_", AWS_LAMBDA_FUNCTION_VERSION="1",
                    AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128", THUMBNAIL_BACKEND="aws",
                    THUMBNAIL_SOURCE_BUCKET="bench-uploads", THUMBNAIL_DEST_BUCKET="bench-thumbs",
                    THUMBNAIL_PRESETS="profile,album-art-small,album-art,preview",
                    THUMBNAIL_S3_PATH_STYLE="true", RUST_LOG="info")
        t0 = time.perf_counter()
        # The function logs to standard error (Lambda sends both streams to CloudWatch).
        fn = start([binary], env=fenv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for line in fn.stderr:
            if "ready" in line:
                break
        ready_ms = (time.perf_counter() - t0) * 1000
        # Read on, unheard: a full pipe would stop the function at its next log line.
        threading.Thread(target=fn.stderr.read, daemon=True).start()
        times = []
        for name in names:
            # An earlier session made it: without its manifest, the work is done again.
            s3.delete_object(Bucket="bench-thumbs", Key=name + "/manifest.json")
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/2015-03-31/functions/_/invocations",
                data=json.dumps(event(name)).encode(), method="POST")
            t = time.perf_counter()
            answer = json.load(urllib.request.urlopen(request, timeout=120))
            times.append((name, (time.perf_counter() - t) * 1000))
            assert answer == {"batchItemFailures": []}, answer
        with open(f"/proc/{fn.pid}/status") as status:
            peak = next(int(l.split()[1]) for l in status if l.startswith("VmHWM:"))
        fn.kill(); fn.wait()
        return ready_ms, times, peak

    ready, times, peak = session([largest])
    print(f"{largest} alone: ready in {ready:.1f} ms; handler {times[0][1]:.0f} ms; peak RSS {peak / 1024:.1f} MiB")
    ready, times, peak = session(images)
    print(f"whole folder ({len(images)} images, one invocation each): ready in {ready:.1f} ms; peak RSS {peak / 1024:.1f} MiB")
    for name, ms in times:
        print(f"  {name:32} {os.path.getsize(os.path.join(folder, name)) / 1e6:6.1f} MB  {ms:6.0f} ms")
    print(f"  mean {sum(ms for _, ms in times) / len(times):.0f} ms per image (presets: profile, album-art-small, album-art, preview; 3 S3 GETs and 5 PUTs to moto included: the manifest, the source's header, the source; 4 thumbnails, the manifest)")
finally:
    for p in reversed(started):
        p.kill(); p.wait()
PY
