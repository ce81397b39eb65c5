// certlife interop with Digital Bazaar's VC stack (run by tests/interop/test_js_credentials.py).
//
// Usage: node interop.mjs JOB.json   (prints one JSON result on stdout)
// A job: {"action": "verify" | "sign", "now": ISO date, "documents": {URL: file}, ...}
//   verify: {"credential": file, "checkStatus": bool} -> {verified, error, statuses}
//   sign:   {"credential": file, "publicKeyMultibase", "secretKeyMultibase",
//            "verificationMethod", "controller", "created"} -> {signed}
// The document loader never touches the network: JSON-LD contexts come from npm
// packages, every other document from the job's "documents" files. A URL with a
// #fragment resolves to the verification method of that id in its base document.
import {readFileSync} from 'node:fs';

import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import {checkStatus} from '@digitalbazaar/vc-bitstring-status-list';
import {contexts as credentialsContexts} from '@digitalbazaar/credentials-context';
import dataIntegrityContext from '@digitalbazaar/data-integrity-context';
import multikeyContext from '@digitalbazaar/multikey-context';
import didContext from 'did-context';
import {
  createSignCryptosuite, createVerifyCryptosuite
} from '@digitalbazaar/eddsa-jcs-2022-cryptosuite';

const readJson = path => JSON.parse(readFileSync(path, 'utf8'));

function contextMap() {
  const map = new Map();
  for(const source of [credentialsContexts, dataIntegrityContext.contexts,
    multikeyContext.contexts, didContext.contexts]) {
    for(const [url, context] of source) {
      map.set(url, context);
    }
  }
  return map;
}

function makeLoader(documentFiles) {
  const contexts = contextMap();
  const documents = new Map(Object.entries(documentFiles || {}).map(
    ([url, file]) => [url, readJson(file)]));
  return async url => {
    if(contexts.has(url)) {
      return {contextUrl: null, documentUrl: url, document: contexts.get(url)};
    }
    if(documents.has(url)) {
      return {contextUrl: null, documentUrl: url, document: documents.get(url)};
    }
    const base = url.split('#')[0];
    if(url.includes('#') && documents.has(base)) {
      const methods = documents.get(base).verificationMethod || [];
      const method = methods.find(m => m.id === url);
      if(method) {
        return {
          contextUrl: null, documentUrl: url,
          document: {'@context': multikeyContext.CONTEXT_URL, ...method}
        };
      }
    }
    throw new Error(`document loader: ${url} is not available offline`);
  };
}

function describe(error) {
  if(!error) {
    return null;
  }
  const parts = [error.message || String(error)];
  for(const inner of [error.cause, ...(error.errors || [])]) {
    if(inner && inner !== error) {
      parts.push(describe(inner));
    }
  }
  return parts.join(' | ');
}

async function verify(job) {
  const documentLoader = makeLoader(job.documents);
  const suite = new DataIntegrityProof({cryptosuite: createVerifyCryptosuite()});
  const credential = readJson(job.credential);
  const options = {credential, suite, documentLoader, now: new Date(job.now)};
  if(job.checkStatus) {
    options.checkStatus = checkStatus;
  } else {
    // the document is verified alone (a status list credential, or no status wanted)
    options.checkStatus = async () => ({verified: true, results: []});
  }
  const result = await vc.verifyCredential(options);
  const statuses = {};
  for(const item of result.statusResult?.results || []) {
    statuses[item.credentialStatus.statusPurpose] = item.status;
  }
  return {
    verified: result.verified === true,
    error: describe(result.error || result.statusResult?.error),
    statuses
  };
}

async function sign(job) {
  const key = await Ed25519Multikey.from({
    '@context': multikeyContext.CONTEXT_URL,
    type: 'Multikey',
    id: job.verificationMethod,
    controller: job.controller,
    publicKeyMultibase: job.publicKeyMultibase,
    secretKeyMultibase: job.secretKeyMultibase
  });
  const suite = new DataIntegrityProof({
    signer: key.signer(), date: job.created, cryptosuite: createSignCryptosuite()
  });
  const signed = await vc.issue({
    credential: readJson(job.credential), suite,
    documentLoader: makeLoader(job.documents), now: new Date(job.now)
  });
  return {signed};
}

const job = readJson(process.argv[2]);
const actions = {verify, sign};
try {
  const result = await actions[job.action](job);
  process.stdout.write(JSON.stringify(result) + '\n');
} catch(error) {
  process.stdout.write(JSON.stringify({failed: describe(error)}) + '\n');
  process.exitCode = 1;
}
