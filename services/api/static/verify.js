// Verify a certificate's status in the browser (contracts/LOG.md §1, §5, §8, §9, §10.1).
// Fetches /v1/certificates/{number}?proof=1 and /v1/trust.json, then checks with WebCrypto
// (Ed25519, SHA-256): the record is canonical JCS, is this certificate's, is signed by a trusted
// record key in force at its index; its leaf hash leads through the inclusion proof to a root;
// the checkpoint note is signed by a trusted note key, is the log's, and has that size and root.
"use strict";
(function () {
  const PREFIX = "certlife-record-v1\n";
  const enc = new TextEncoder();

  class Failed extends Error {}
  const fail = (why) => { throw new Failed(why); };

  // --- bytes ---
  function b64decode(text, what) {
    if (typeof text !== "string" || !/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) {
      fail(what + " is not standard padded base64");
    }
    const bin = atob(text);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function b64encode(bytes) {
    let bin = "";
    for (const b of bytes) bin += String.fromCharCode(b);
    return btoa(bin);
  }
  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }
  const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  async function sha256(...parts) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", concat(...parts)));
  }
  async function ed25519(publicKey, signature, message) {
    const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
    return crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
  }

  // --- RFC 8785 (JCS) for I-JSON values: integers only ---
  function jcs(value) {
    if (value === null || typeof value === "boolean") return JSON.stringify(value);
    if (typeof value === "string") return JSON.stringify(value);
    if (typeof value === "number") {
      if (!Number.isSafeInteger(value)) fail("record holds a number that is not a safe integer");
      return String(value);
    }
    if (Array.isArray(value)) return "[" + value.map(jcs).join(",") + "]";
    const keys = Object.keys(value).sort(); // UTF-16 code unit order, as RFC 8785 requires
    return "{" + keys.map((k) => JSON.stringify(k) + ":" + jcs(value[k])).join(",") + "}";
  }

  // --- RFC 9162 §2.1.3.2 inclusion proof ---
  async function rootFromInclusion(leaf, index, size, path) {
    let fn = BigInt(index), sn = BigInt(size) - 1n, r = leaf;
    if (!(fn >= 0n && fn <= sn)) fail(`leaf index ${index} is not below tree size ${size}`);
    for (const p of path) {
      if (sn === 0n) fail("inclusion proof is too long");
      if ((fn & 1n) === 1n || fn === sn) {
        r = await sha256(Uint8Array.of(1), p, r);
        while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
      } else {
        r = await sha256(Uint8Array.of(1), r, p);
      }
      fn >>= 1n; sn >>= 1n;
    }
    if (sn !== 0n) fail("inclusion proof is too short");
    return r;
  }

  // --- C2SP signed note and note keys ---
  async function noteKey(vkey) {
    const parts = String(vkey).split("+");
    if (parts.length !== 3 || !/^[0-9a-f]{8}$/.test(parts[1])) fail(`malformed note key ${vkey}`);
    const raw = b64decode(parts[2], "note key");
    if (raw.length !== 33 || raw[0] !== 1) fail(`note key ${parts[0]} is not an Ed25519 key`);
    const hash = (await sha256(enc.encode(parts[0] + "\n"), raw)).slice(0, 4);
    if (hex(hash) !== parts[1]) fail(`note key ${parts[0]}: its key hash does not match the key`);
    return { name: parts[0], hash, publicKey: raw.slice(1) };
  }
  function parseNote(note) {
    if (typeof note !== "string" || !note.endsWith("\n")) fail("checkpoint note does not end in a newline");
    if (/[\u0000-\u0009\u000b-\u001f\u007f]/.test(note)) fail("checkpoint note holds a control character");
    const split = note.lastIndexOf("\n\n");
    if (split < 0) fail("checkpoint note has no blank line before its signatures");
    const body = note.slice(0, split + 1);
    const lines = note.slice(split + 2, -1).split("\n");
    const sigs = lines.map((line) => {
      const m = /^\u2014 (\S+) (\S+)$/.exec(line);
      if (!m || m[1].includes("+")) fail(`checkpoint note: bad signature line ${JSON.stringify(line)}`);
      return { name: m[1], text: m[2], bytes: b64decode(m[2], `signature of ${m[1]}`) };
    });
    return { body, sigs };
  }
  function parseCheckpoint(body) {
    const lines = body.slice(0, -1).split("\n");
    if (lines.length < 3 || lines.some((l) => l === "")) fail("checkpoint body needs three or more non-empty lines");
    if (!/^(0|[1-9][0-9]{0,19})$/.test(lines[1])) fail(`checkpoint tree size ${JSON.stringify(lines[1])} is malformed`);
    const root = b64decode(lines[2], "checkpoint root");
    if (root.length !== 32 || b64encode(root) !== lines[2]) fail("checkpoint root is not canonical base64 of 32 bytes");
    return { origin: lines[0], size: BigInt(lines[1]), root };
  }

  // --- the steps; each returns a one-line detail or throws Failed ---
  async function verify(number, status, report) {
    const step = async (name, fn) => {
      const item = report(name);
      try {
        const detail = await fn();
        item.done(true, detail);
        return detail;
      } catch (err) {
        const why = err instanceof Failed ? err.message : `${err.name || "error"}: ${err.message}`;
        item.done(false, why);
        throw new Failed(`${name}: ${why}`);
      }
    };
    let trust, answer, proof, record, keyEntry, root, checkpoint;
    await step("Fetch the proof and the trust file", async () => {
      const get = async (url) => {
        const res = await fetch(url, { cache: "no-store", headers: { accept: "application/json" } });
        if (!res.ok) {
          const problem = await res.json().catch(() => ({}));
          fail(`${url} answered HTTP ${res.status}` + (problem.detail ? `: ${problem.detail}` : ""));
        }
        return res.json();
      };
      [answer, trust] = await Promise.all([
        get(`/v1/certificates/${encodeURIComponent(number)}?proof=1`), get("/v1/trust.json")]);
      proof = answer && answer.proof;
      if (!proof || typeof proof.record !== "string") fail("the answer carries no proof");
      if (!trust || trust.v !== 1 || typeof trust.origin !== "string" || !trust.origin) fail("trust file is not v1");
      return `trust file of ${trust.origin}`;
    });
    await step("Record is canonical and is this certificate's", async () => {
      try { record = JSON.parse(proof.record); } catch (e) { fail("record is not JSON"); }
      if (record === null || typeof record !== "object" || Array.isArray(record)) fail("record is not a JSON object");
      if (jcs(record) !== proof.record) fail("record is not its canonical (RFC 8785) encoding");
      if (record.origin !== trust.origin) fail(`record origin ${record.origin} is not the trusted ${trust.origin}`);
      if (record.kind !== "certificate" || !record.certificate || record.certificate.number !== number) {
        fail(`record is not one of certificate ${number}`);
      }
      if (status && answer.status !== status) fail(`the status is now ${answer.status}, not ${status}: reload the page`);
      const recordStatus = answer.recordStatus || answer.status;
      if (record.status !== recordStatus) fail(`record says ${record.status}, the answer says ${recordStatus}`);
      if (record.index !== proof.leafIndex || (answer.logIndex != null && answer.logIndex !== record.index)) {
        fail(`record index ${record.index} is not the answer's ${answer.logIndex} or the proof's ${proof.leafIndex}`);
      }
      let expiredNote = "";
      if (answer.status !== record.status) {
        const until = Date.parse(record.certificate.validUntil);
        if (answer.status !== "expired" || !(until <= Date.now())) {
          fail(`record says ${record.status}, the answer says ${answer.status}`);
        }
        expiredNote = ` (expired: validity ended ${record.certificate.validUntil})`;
      }
      return `index ${record.index}: ${record.event}, status ${record.status}${expiredNote}`;
    });
    await step("Record signature (Ed25519, trusted record key)", async () => {
      keyEntry = (trust.recordKeys || []).find((k) => k.keyId === record.keyId);
      if (!keyEntry) fail(`record key ${record.keyId} is not in the trust file`);
      const pub = b64decode(keyEntry.publicKey, "record key");
      if (pub.length !== 32) fail("record key is not 32 bytes");
      if (hex((await sha256(pub)).slice(0, 8)) !== record.keyId) fail("key id does not match the public key");
      const i = record.index;
      if (i < keyEntry.validFromIndex || (keyEntry.validUntilIndex !== null && i >= keyEntry.validUntilIndex)) {
        fail(`key ${record.keyId} is not in force at index ${i}`);
      }
      if (keyEntry.compromisedFromIndex !== null && i >= keyEntry.compromisedFromIndex) {
        fail(`key ${record.keyId} is compromised from index ${keyEntry.compromisedFromIndex}`);
      }
      const sig = b64decode(record.sig, "record signature");
      if (sig.length !== 64 || b64encode(sig) !== record.sig) fail("record signature is not canonical base64 of 64 bytes");
      const body = Object.assign({}, record);
      delete body.sig;
      delete body.newKeySig;
      if (!(await ed25519(pub, sig, enc.encode(PREFIX + jcs(body))))) fail("the signature does not verify");
      return `signed by key ${record.keyId}`;
    });
    await step("Inclusion proof (SHA-256 Merkle tree)", async () => {
      const leaf = await sha256(Uint8Array.of(0), enc.encode(proof.record));
      const path = (proof.inclusion || []).map((h, n) => {
        const bytes = b64decode(h, `proof hash ${n}`);
        if (bytes.length !== 32) fail(`proof hash ${n} is not 32 bytes`);
        return bytes;
      });
      root = await rootFromInclusion(leaf, proof.leafIndex, proof.treeSize, path);
      return `leaf ${proof.leafIndex} of ${proof.treeSize} leads to root ${b64encode(root)}`;
    });
    await step("Checkpoint signature (trusted note key)", async () => {
      const note = parseNote(proof.checkpoint);
      const keys = await Promise.all((trust.noteKeys || []).map(noteKey));
      const signed = [];
      for (const line of note.sigs) {
        const key = keys.find((k) => k.name === line.name && equal(k.hash, line.bytes.slice(0, 4)));
        if (!key) continue; // witnesses' cosignatures and unknown keys are ignored (LOG.md §9.4)
        if (line.bytes.length < 5 || b64encode(line.bytes) !== line.text) fail(`signature line of ${key.name} is malformed`);
        if (!(await ed25519(key.publicKey, line.bytes.slice(4), enc.encode(note.body)))) {
          fail(`the signature by ${key.name} does not verify`);
        }
        signed.push(key.name);
      }
      if (!signed.length) fail("no trusted note key signed the checkpoint");
      checkpoint = parseCheckpoint(note.body);
      if (checkpoint.origin !== trust.origin) fail(`checkpoint origin ${checkpoint.origin} is not ${trust.origin}`);
      const others = note.sigs.map((line) => line.name).filter((name) => !signed.includes(name));
      const also = others.length ? `; also signed by ${others.join(", ")} (witnesses: not checked here)` : "";
      return `signed by ${signed.join(", ")}${also}`;
    });
    await step("Checkpoint root equals the computed root", async () => {
      if (checkpoint.size !== BigInt(proof.treeSize)) fail(`checkpoint size ${checkpoint.size} is not the proof's ${proof.treeSize}`);
      if (!equal(checkpoint.root, root)) fail("the checkpoint's root is not the root the proof leads to");
      return `tree size ${checkpoint.size}`;
    });
  }

  // --- the page ---
  function start() {
    const button = document.getElementById("verify");
    const result = document.getElementById("verify-result");
    const list = document.getElementById("verify-checks");
    if (!button || !result || !list) return;
    if (!(crypto && crypto.subtle)) {
      result.textContent = "This browser cannot verify: WebCrypto is unavailable (use https or localhost).";
      return;
    }
    button.hidden = false;
    button.addEventListener("click", async () => {
      button.disabled = true;
      list.replaceChildren();
      result.className = "result";
      result.textContent = "Verifying…";
      const report = (name) => {
        const li = document.createElement("li");
        const mark = document.createElement("span");
        const detail = document.createElement("span");
        detail.className = "detail";
        li.append(name + ": ", mark, " ", detail);
        mark.textContent = "checking…";
        list.append(li);
        return {
          done(ok, text) {
            mark.textContent = ok ? "passed" : "failed";
            mark.className = ok ? "ok" : "bad";
            detail.textContent = text || "";
            li.dataset.result = ok ? "passed" : "failed";
          },
        };
      };
      try {
        await verify(button.dataset.number, button.dataset.status, report);
        result.textContent = "verified";
        result.className = "result ok";
      } catch (err) {
        result.textContent = "failed: " + (err instanceof Failed ? err.message : String(err));
        result.className = "result bad";
      } finally {
        button.disabled = false;
      }
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
