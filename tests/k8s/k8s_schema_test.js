// Every manifest in deploy/kubernetes, every ConfigMap the scripts there
// print, and everything the injector writes (CLI and webhook), checked
// against the Kubernetes API schema. Run by k8s_schema_test.sh, which
// provides NODE_PATH; writes JUnit XML to $XML_OUTPUT_FILE for Bazel.
"use strict";

const assert = require("assert");
const childProcess = require("child_process");
const fs = require("fs");
const path = require("path");
const YAML = require("yaml");
const jsonpatch = require("fast-json-patch");
const { validateObject } = require("./k8s_schema_lib.js");

const MODULES = process.env.NODE_PATH.split(path.delimiter)[0];
const INJECT = "control/inject/palisade-inject";
const K8S = "deploy/kubernetes";

function documents(text) {
  return YAML.parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length) throw new Error(d.errors.map((e) => e.message).join("; "));
      return d.toJS();
    })
    .filter((o) => o !== null && o !== undefined);
}

function assertValid(objects, source) {
  assert.ok(objects.length > 0, `${source}: no documents`);
  const errors = objects.flatMap((o) => validateObject(o, MODULES));
  assert.deepStrictEqual(errors, [], `${source} fails the API schema`);
}

function run(argv, input) {
  const r = childProcess.spawnSync(argv[0], argv.slice(1), { input, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${argv.join(" ")} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

function inject(yamlText, flags = []) {
  return run([INJECT, "--quiet", ...flags], yamlText);
}

const tests = [];
const test = (name, fn) => tests.push({ name, fn });

for (const file of ["control-plane.yaml", "etcd.yaml", "sample-app.yaml", "sample-app.injected.yaml",
                    "prometheus-scrape.yaml"]) {
  test(`${file} passes the Kubernetes API schema`, () => {
    assertValid(documents(fs.readFileSync(path.join(K8S, file), "utf8")), file);
  });
}

test("sample-app.injected.yaml is exactly what the injector makes of sample-app.yaml", () => {
  const golden = fs.readFileSync(path.join(K8S, "sample-app.injected.yaml"), "utf8");
  const out = inject(fs.readFileSync(path.join(K8S, "sample-app.yaml"), "utf8"));
  assert.strictEqual(out, golden,
      "regenerate: bazel run //control/inject:palisade-inject -- --quiet " +
      "$PWD/deploy/kubernetes/sample-app.yaml > deploy/kubernetes/sample-app.injected.yaml");
});

test("injecting the injected sample again changes nothing", () => {
  const golden = fs.readFileSync(path.join(K8S, "sample-app.injected.yaml"), "utf8");
  assert.strictEqual(inject(golden), golden);
});

test("the injected sample runs the proxy as a native sidecar after the capture step", () => {
  const injected = documents(fs.readFileSync(path.join(K8S, "sample-app.injected.yaml"), "utf8"));
  const deployments = injected.filter((o) => o.kind === "Deployment");
  assert.strictEqual(deployments.length, 2);
  for (const d of deployments) {
    const init = d.spec.template.spec.initContainers;
    assert.deepStrictEqual(init.map((c) => c.name), ["palisade-init", "palisade-proxy"]);
    assert.strictEqual(init[1].restartPolicy, "Always");
    assert.strictEqual(init[1].startupProbe.httpGet.port, 15020);
    assert.deepStrictEqual(init[0].securityContext.capabilities.add, ["NET_ADMIN", "NET_RAW"]);
    assert.strictEqual(d.spec.template.metadata.annotations["palisade.dev/injected"], "true");
  }
});

test("the injector's output for every workload kind passes the API schema", () => {
  const input = fs.readFileSync("tests/k8s/testdata/workloads.yaml", "utf8");
  const out = documents(inject(input));
  assertValid(out, "injected workloads.yaml");
  const kinds = out.map((o) => o.kind);
  assert.deepStrictEqual(kinds, ["Pod", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod"]);
  // The last pod opted out and comes out as it went in.
  assert.ok(!JSON.stringify(out[5]).includes("palisade-proxy"));
});

test("the injector's output with every flag set passes the API schema", () => {
  const input = fs.readFileSync("tests/k8s/testdata/workloads.yaml", "utf8");
  const out = inject(input, [
    "--proxy_image=registry.example/palisade/proxy:1.0", "--image_pull_policy=Always",
    "--proxy_config_map=mesh-proxy", "--bundle_config_map=mesh-roots", "--token_audience=mesh",
    "--token_expiration_seconds=3600", "--proxy_uid=2000", "--inbound_port=16006",
    "--outbound_port=16001", "--health_port=16020", "--nocapture_ipv6",
    "--exclude_inbound_ports=9901", "--exclude_outbound_ports=", "--exclude_outbound_cidrs=10.96.0.1/32",
    "--proxy_cpu_request=", "--proxy_memory_request=32Mi", "--proxy_cpu_limit=", "--proxy_memory_limit="]);
  assertValid(documents(out), "injected workloads.yaml with flags");
});

// The API server's view: the patch applied to the pod it sent.
test("the webhook's JSONPatch makes the pod the CLI makes, and it passes the API schema", () => {
  const reviewText = fs.readFileSync("control/inject/testdata/admission_review_pod.json", "utf8");
  const review = JSON.parse(reviewText);
  const answer = JSON.parse(run([INJECT, "--admission_review"], reviewText));
  assert.strictEqual(answer.apiVersion, "admission.k8s.io/v1");
  assert.strictEqual(answer.kind, "AdmissionReview");
  assert.strictEqual(answer.response.uid, review.request.uid);
  assert.strictEqual(answer.response.allowed, true);
  assert.strictEqual(answer.response.patchType, "JSONPatch");
  const patch = JSON.parse(Buffer.from(answer.response.patch, "base64").toString("utf8"));
  assert.strictEqual(jsonpatch.validate(patch, review.request.object), undefined);
  const patched = jsonpatch.applyPatch(jsonpatch.deepClone(review.request.object), patch).newDocument;

  const fromCli = documents(inject(YAML.stringify(review.request.object)))[0];
  assert.deepStrictEqual(patched, fromCli);
  assertValid([patched], "patched pod");
});

test("the webhook answers an injected pod with no patch", () => {
  const review = JSON.parse(
      fs.readFileSync("control/inject/testdata/admission_review_pod.json", "utf8"));
  const first = JSON.parse(run([INJECT, "--admission_review"], JSON.stringify(review)));
  const patch = JSON.parse(Buffer.from(first.response.patch, "base64").toString("utf8"));
  review.request.object = jsonpatch.applyPatch(review.request.object, patch).newDocument;
  const second = JSON.parse(run([INJECT, "--admission_review"], JSON.stringify(review)));
  assert.strictEqual(second.response.allowed, true);
  assert.strictEqual(second.response.patch, undefined);
});

test("mesh-namespace.sh prints valid ConfigMaps holding proxy.yaml as shipped", () => {
  const out = run([path.join(K8S, "mesh-namespace.sh"), "shop",
                   "tests/testdata/config/certs/control_plane_bundle.pem"]);
  const objects = documents(out);
  assertValid(objects, "mesh-namespace.sh output");
  assert.deepStrictEqual(objects.map((o) => o.metadata.name), ["palisade-proxy", "palisade-root-bundle"]);
  assert.strictEqual(objects[0].data["proxy.yaml"], fs.readFileSync(path.join(K8S, "proxy.yaml"), "utf8"));
  assert.strictEqual(objects[1].data["root-bundle.pem"],
      fs.readFileSync("tests/testdata/config/certs/control_plane_bundle.pem", "utf8"));
});

test("dashboard-configmap.sh wraps the Grafana dashboards in a valid ConfigMap", () => {
  const files = fs.readdirSync("deploy/grafana").filter((f) => f.endsWith(".json"))
      .map((f) => `deploy/grafana/${f}`);
  assert.ok(files.length > 0, "no dashboard in deploy/grafana");
  const objects = documents(run([path.join(K8S, "dashboard-configmap.sh"), "monitoring", ...files]));
  assertValid(objects, "dashboard-configmap.sh output");
  for (const f of files) {
    const key = path.basename(f);
    assert.deepStrictEqual(JSON.parse(objects[0].data[key]), JSON.parse(fs.readFileSync(f, "utf8")));
  }
});

test("the webhook's caBundle placeholder is the marked value the README replaces", () => {
  const hook = documents(fs.readFileSync(path.join(K8S, "control-plane.yaml"), "utf8"))
      .find((o) => o.kind === "MutatingWebhookConfiguration");
  const caBundle = hook.webhooks[0].clientConfig.caBundle;
  assert.strictEqual(Buffer.from(caBundle, "base64").toString(), "REPLACE ME: webhook CA bundle");
  const readme = fs.readFileSync("README.md", "utf8");
  assert.ok(readme.includes(caBundle), "README's install step must replace this exact value");
});

// etcd holds the CA (sealed), tokens and revocations: TLS with client
// certificates on both ports, the files from one read-only Secret volume,
// the kubelet's probes on the plaintext /health port, and the NetworkPolicy
// kept as a second layer.
test("etcd.yaml serves clients and peers only over mutual TLS", () => {
  const objects = documents(fs.readFileSync(path.join(K8S, "etcd.yaml"), "utf8"));
  const pod = objects.find((o) => o.kind === "StatefulSet").spec.template.spec;
  const etcd = pod.containers.find((c) => c.name === "etcd");
  const flags = new Map(etcd.args.map((a) => {
    const eq = a.indexOf("=");
    return eq < 0 ? [a, "true"] : [a.slice(0, eq), a.slice(eq + 1)];
  }));
  for (const f of ["--listen-client-urls", "--advertise-client-urls", "--listen-peer-urls",
                   "--initial-advertise-peer-urls", "--initial-cluster"]) {
    assert.ok(flags.has(f), `etcd.yaml: no ${f}`);
    for (const url of flags.get(f).split(",")) {
      assert.match(url, /^([\w-]+=)?https:\/\//, `${f}: ${url} is not https`);
    }
  }
  assert.strictEqual(flags.get("--client-cert-auth"), "true");
  assert.strictEqual(flags.get("--peer-client-cert-auth"), "true");
  for (const f of ["--trusted-ca-file", "--cert-file", "--key-file", "--peer-trusted-ca-file",
                   "--peer-cert-file", "--peer-key-file"]) {
    const file = flags.get(f);
    assert.ok(file, `etcd.yaml: no ${f}`);
    const mount = etcd.volumeMounts.find((m) => file.startsWith(m.mountPath + "/"));
    assert.ok(mount && mount.readOnly, `${f}=${file}: not on a read-only mount`);
    const volume = pod.volumes.find((v) => v.name === mount.name);
    assert.ok(volume && volume.secret, `${f}=${file}: not from a Secret`);
  }
  // The kubelet presents no client certificate: its probes use the metrics port.
  const metrics = flags.get("--listen-metrics-urls");
  assert.ok(metrics && metrics.startsWith("http://"), "etcd.yaml: no plaintext --listen-metrics-urls");
  const metricsPort = Number(metrics.split(":").pop());
  for (const probe of [etcd.readinessProbe, etcd.livenessProbe]) {
    const port = etcd.ports.find((p) => p.name === probe.httpGet.port || p.containerPort === probe.httpGet.port);
    assert.strictEqual(port.containerPort, metricsPort, "a probe on a TLS port would fail");
  }
  const policy = objects.find((o) => o.kind === "NetworkPolicy");
  assert.ok(policy, "etcd.yaml: the NetworkPolicy stays as a second layer");
  const open = policy.spec.ingress.flatMap((r) => r.ports.map((p) => p.port));
  assert.ok(!open.includes(metricsPort), "the metrics port is open to no pod");
});

test("every Secret the manifests mount is created by a README command", () => {
  const readme = fs.readFileSync("README.md", "utf8");
  for (const file of ["control-plane.yaml", "etcd.yaml"]) {
    const objects = documents(fs.readFileSync(path.join(K8S, file), "utf8"));
    for (const o of objects.filter((x) => x.spec && x.spec.template)) {
      for (const v of o.spec.template.spec.volumes || []) {
        if (!v.secret) continue;
        assert.match(readme, new RegExp(`kubectl -n palisade create secret \\w+ ${v.secret.secretName} `),
            `${file}: Secret ${v.secret.secretName} is created by no README command`);
      }
    }
  }
});

// The validator itself finds what the API server would refuse.
test("the schema check refuses unknown fields, wrong types and broken pod rules", () => {
  const bad = documents(fs.readFileSync("tests/k8s/testdata/invalid.yaml", "utf8"));
  // An empty list would pass the loop below without checking anything.
  assert.strictEqual(bad.length, 6, "invalid.yaml's documents");
  for (const object of bad) {
    assert.notDeepStrictEqual(validateObject(object, MODULES), [],
        `${object.kind} ${object.metadata.name} should fail`);
  }
});

// --- a minimal runner: prints "N passed, N failed", writes JUnit XML.
let passed = 0;
const failures = [];
const cases = [];
for (const t of tests) {
  const start = Date.now();
  try {
    t.fn();
    passed++;
    console.log(`ok   ${t.name}`);
    cases.push({ name: t.name, time: (Date.now() - start) / 1000 });
  } catch (e) {
    failures.push(t.name);
    console.log(`FAIL ${t.name}\n${e.stack || e}`);
    cases.push({ name: t.name, time: (Date.now() - start) / 1000, failure: String(e.message || e) });
  }
}
if (process.env.XML_OUTPUT_FILE) {
  const esc = (s) => s.replace(/[<>&"]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;" })[c]);
  const xml = [`<?xml version="1.0" encoding="UTF-8"?>`,
    `<testsuites><testsuite name="K8sSchemaTest" tests="${cases.length}" failures="${failures.length}">`,
    ...cases.map((c) => `<testcase classname="K8sSchemaTest" name="${esc(c.name)}" time="${c.time}">` +
        (c.failure ? `<failure message="${esc(c.failure.slice(0, 2000))}"/>` : "") + `</testcase>`),
    `</testsuite></testsuites>`];
  fs.writeFileSync(process.env.XML_OUTPUT_FILE, xml.join("\n") + "\n");
}
console.log(`${passed} passed, ${failures.length} failed`);
process.exit(failures.length ? 1 : 0);
