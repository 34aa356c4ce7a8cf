// Checks Kubernetes objects the way the API server would before storing them:
// the OpenAPI schema (kubernetes-models validates types, required fields and
// formats), unknown fields (kubectl's default strict field validation; the
// schema allows them, so they are found from the models' type declarations),
// and a few pod rules the API server enforces in code.
"use strict";

const fs = require("fs");
const path = require("path");

// Interface name (IIoK8s...) -> { field: type text }, from the .d.ts files.
let interfaces = null;

function loadInterfaces(modulesDir) {
  const result = new Map();
  const roots = [
    path.join(modulesDir, "kubernetes-models"),
    path.join(modulesDir, "@kubernetes-models", "apimachinery"),
  ];
  const files = [];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory() && entry.name !== "node_modules") walk(full);
      else if (entry.name.endsWith(".d.ts")) files.push(full);
    }
  };
  roots.forEach(walk);
  for (const file of files) {
    const text = fs.readFileSync(file, "utf8");
    const local = new Map();
    const re = /^export interface (\w+)(?: extends [\w, ]+)? \{\n([\s\S]*?)^\}/gm;
    for (let m; (m = re.exec(text)); ) local.set(m[1], parseFields(m[2]));
    const alias = /^export \{([^}]*)\}/m.exec(text);
    if (!alias) continue;
    for (const part of alias[1].split(",")) {
      const [name, as] = part.trim().split(/\s+as\s+/);
      if (as && local.has(name)) result.set(as, local.get(name));
    }
  }
  return result;
}

function parseFields(body) {
  const fields = {};
  const lines = body.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const m = /^ {4}"([^"]+)"\??: (.*)$/.exec(lines[i]);
    if (!m) continue;
    let type = m[2];
    let depth = (type.match(/\{/g) || []).length - (type.match(/\}/g) || []).length;
    while (depth > 0 && i + 1 < lines.length) {
      const next = lines[++i].trim();
      type += " " + next;
      depth += (next.match(/\{/g) || []).length - (next.match(/\}/g) || []).length;
    }
    fields[m[1]] = type.replace(/;$/, "").trim();
  }
  return fields;
}

function unknownFields(value, type, where, errors) {
  if (value === null || value === undefined) return;
  let m;
  if ((m = /^Array<(.+)>$/.exec(type))) {
    if (Array.isArray(value)) value.forEach((v, i) => unknownFields(v, m[1], `${where}[${i}]`, errors));
    return;
  }
  if ((m = /^\{ \[key: string\]: (.+?);? \}$/.exec(type))) {
    if (typeof value === "object") {
      for (const [k, v] of Object.entries(value)) unknownFields(v, m[1], `${where}.${k}`, errors);
    }
    return;
  }
  const fields = interfaces.get(type);
  // A type without declared fields (FieldsV1, RawExtension) holds anything.
  if (!fields || Object.keys(fields).length === 0 || typeof value !== "object" || Array.isArray(value)) {
    return;
  }
  for (const [k, v] of Object.entries(value)) {
    if (!(k in fields)) errors.push(`${where}: unknown field "${k}"`);
    else unknownFields(v, fields[k], `${where}.${k}`, errors);
  }
}

// The pod rules the OpenAPI schema cannot say.
// `claims`: a StatefulSet's volumeClaimTemplates, volumes its pods may mount too.
function podRules(spec, where, errors, claims = []) {
  if (!spec || typeof spec !== "object") return;
  const init = spec.initContainers || [];
  const all = [...init, ...(spec.containers || [])];
  const volumes = new Set((spec.volumes || []).map((v) => v.name));
  if (volumes.size !== (spec.volumes || []).length) errors.push(`${where}.volumes: duplicate names`);
  for (const claim of claims) {
    const name = claim.metadata && claim.metadata.name;
    if (volumes.has(name)) errors.push(`${where}: volume "${name}" is also a volumeClaimTemplate`);
    volumes.add(name);
  }
  const names = new Set();
  for (const c of all) {
    if (names.has(c.name)) errors.push(`${where}: two containers named "${c.name}"`);
    names.add(c.name);
    for (const m of c.volumeMounts || []) {
      if (!volumes.has(m.name)) errors.push(`${where}: "${c.name}" mounts unknown volume "${m.name}"`);
    }
    const ports = new Set();
    for (const p of c.ports || []) {
      if (p.name !== undefined) {
        if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(p.name) || p.name.length > 15 || !/[a-z]/.test(p.name)) {
          errors.push(`${where}: "${c.name}" port name "${p.name}" is not an IANA service name`);
        }
        ports.add(p.name);
      }
    }
    for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
      const h = c[probe] && (c[probe].httpGet || c[probe].tcpSocket);
      if (h && typeof h.port === "string" && !ports.has(h.port)) {
        errors.push(`${where}: "${c.name}" ${probe} names unknown port "${h.port}"`);
      }
    }
    if (c.restartPolicy !== undefined && (!init.includes(c) || c.restartPolicy !== "Always")) {
      errors.push(`${where}: "${c.name}" restartPolicy is only allowed as "Always" on init containers`);
    }
    if (c.startupProbe && init.includes(c) && c.restartPolicy !== "Always") {
      errors.push(`${where}: init container "${c.name}" may not have probes`);
    }
  }
  for (const v of spec.volumes || []) {
    for (const s of (v.projected && v.projected.sources) || []) {
      const t = s.serviceAccountToken;
      if (t && t.expirationSeconds !== undefined && t.expirationSeconds < 600) {
        errors.push(`${where}: volume "${v.name}" token expirationSeconds under 600`);
      }
    }
  }
}

function podSpecOf(object) {
  switch (object.kind) {
    case "Pod":
      return [object.spec, "spec"];
    case "Deployment":
    case "StatefulSet":
    case "DaemonSet":
    case "ReplicaSet":
    case "ReplicationController":
    case "Job":
      return [object.spec && object.spec.template && object.spec.template.spec, "spec.template.spec"];
    case "CronJob": {
      const t = object.spec && object.spec.jobTemplate && object.spec.jobTemplate.spec;
      return [t && t.template && t.template.spec, "spec.jobTemplate.spec.template.spec"];
    }
    default:
      return [null, ""];
  }
}

// Errors (strings) for one object; empty when the API server would take it.
function validateObject(object, modulesDir) {
  if (!interfaces) interfaces = loadInterfaces(modulesDir);
  const what = `${object.kind} ${(object.metadata && object.metadata.namespace) || ""}/${
    (object.metadata && object.metadata.name) || ""}`;
  const errors = [];
  if (!object.apiVersion || !object.kind) return [`${what}: apiVersion and kind are required`];
  let models;
  try {
    models = require(`kubernetes-models/${object.apiVersion}`);
  } catch (e) {
    return [`${what}: unknown apiVersion ${object.apiVersion}`];
  }
  const Model = models[object.kind];
  if (!Model) return [`${what}: unknown kind ${object.kind} in ${object.apiVersion}`];
  try {
    new Model(object).validate();
  } catch (e) {
    errors.push(`${what}: ${e.message}`);
  }
  const group = object.apiVersion.includes("/") ? object.apiVersion.split("/")[0] : "core";
  const version = object.apiVersion.split("/").pop();
  // The OpenAPI names use the group's first label: rbac.authorization.k8s.io
  // is io.k8s.api.rbac.v1, admissionregistration.k8s.io io.k8s.api.admissionregistration.v1.
  const first = group.split(".")[0];
  const groupName = first[0].toUpperCase() + first.slice(1);
  const typeName = `IIoK8sApi${groupName}${version[0].toUpperCase()}${version.slice(1)}${object.kind}`;
  if (!interfaces.has(typeName)) errors.push(`${what}: no type declaration ${typeName} to check fields`);
  unknownFields(object, typeName, what, errors);
  if (object.kind === "List") return errors;
  const [spec, at] = podSpecOf(object);
  const claims = (object.kind === "StatefulSet" && object.spec && object.spec.volumeClaimTemplates) || [];
  if (spec) podRules(spec, `${what} ${at}`, errors, claims);
  return errors;
}

module.exports = { validateObject };
