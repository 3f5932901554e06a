/**
 * certs/: the CA and serving certificate (names, algorithms, chain, validity)
 * and the files written for them.
 */
import t from 'tap'
import { X509Certificate, createPrivateKey } from 'node:crypto'
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { caBundle, generateCertificates, serviceDnsNames, subjectAltNames } from '../../certs/generate.ts'
import { writeCertificateFiles, writeFileAtomic } from '../../certs/files.ts'
import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { createServer, get } from 'node:https'
import type { AddressInfo } from 'node:net'
import { promisify } from 'node:util'

const execFileAsync = promisify(execFile)

async function tempDir (t: { teardown: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'spot-certs-test-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

t.test('the service names are S, S.N, S.N.svc and S.N.svc.cluster.local', async t => {
  t.same(serviceDnsNames('hook', 'ops'), ['hook', 'hook.ops', 'hook.ops.svc', 'hook.ops.svc.cluster.local'])
})

t.test('extra hosts are split into DNS names and IP addresses, without duplicates', async t => {
  t.same(subjectAltNames({ service: 'hook', namespace: 'ops', hosts: ['localhost', '10.0.0.7', '::1', 'hook', '10.0.0.7'] }), {
    dns: ['hook', 'hook.ops', 'hook.ops.svc', 'hook.ops.svc.cluster.local', 'localhost'],
    ips: ['10.0.0.7', '::1']
  })
})

for (const [keyType, signature, keyAlgorithm] of [['ecdsa', 'ecdsa-with-SHA256', 'ec'], ['rsa', 'sha256WithRSAEncryption', 'rsa']] as const) {
  t.test(`a ${keyType} set: CA-signed serving certificate with every SAN, SHA-256 and the requested validity`, async t => {
    const now = new Date('2026-01-01T00:00:00Z')
    const set = await generateCertificates({ service: 'spot-webhook', namespace: 'spot-system', hosts: ['webhook.example.com', '127.0.0.1', '::1'], days: 30, keyType, now })
    const ca = new X509Certificate(set.ca.cert)
    const leaf = new X509Certificate(set.serving.cert)
    t.ok(ca.ca, 'the CA is a CA')
    t.notOk(leaf.ca, 'the serving certificate is not a CA')
    t.ok(leaf.checkIssued(ca), 'issued by the CA')
    t.ok(leaf.verify(ca.publicKey), 'signature verifies with the CA key')
    t.notOk(leaf.verify(new X509Certificate((await generateCertificates({ service: 'x', namespace: 'y', hosts: [], days: 1, keyType })).ca.cert).publicKey), 'and not with another CA key')
    t.ok(ca.verify(ca.publicKey), 'the CA is self-signed')
    t.equal(leaf.subjectAltName, 'DNS:spot-webhook, DNS:spot-webhook.spot-system, DNS:spot-webhook.spot-system.svc, DNS:spot-webhook.spot-system.svc.cluster.local, DNS:webhook.example.com, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1')
    t.ok(leaf.checkHost('spot-webhook.spot-system.svc'), 'matches the name the API server uses')
    t.ok(leaf.checkIP('127.0.0.1'), 'IP SAN for 127.0.0.1')
    t.equal(leaf.checkHost('other.spot-system.svc'), undefined, 'no other names')
    t.equal(leaf.publicKey.asymmetricKeyType, keyAlgorithm)
    t.equal(ca.publicKey.asymmetricKeyType, keyAlgorithm, 'CA and leaf share the key type')
    if (keyType === 'ecdsa') t.equal(leaf.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1', 'P-256')
    else t.equal(leaf.publicKey.asymmetricKeyDetails?.modulusLength, 2048, 'RSA 2048')
    t.ok(leaf.checkPrivateKey(createPrivateKey(set.serving.key)), 'the key belongs to the certificate')
    t.ok(ca.checkPrivateKey(createPrivateKey(set.ca.key)), 'the CA key belongs to the CA')
    t.equal(leaf.validToDate.getTime() - now.getTime(), 30 * 24 * 3600_000, 'valid for 30 days')
    t.ok(leaf.validFromDate.getTime() < now.getTime(), 'valid from a little before now (clock skew)')
    t.equal(leaf.signatureAlgorithm, signature)
    t.equal(ca.signatureAlgorithm, signature)
  })
}

t.test('caBundle is the base64 of the CA PEM', async t => {
  t.equal(Buffer.from(caBundle('-----BEGIN CERTIFICATE-----\nAA==\n'), 'base64').toString(), '-----BEGIN CERTIFICATE-----\nAA==\n')
})

t.test('the files are ca.crt, tls.crt and tls.key, the key readable by the owner only', async t => {
  const dir = join(await tempDir(t), 'nested', 'out')
  const set = await generateCertificates({ service: 's', namespace: 'n', hosts: [], days: 1, keyType: 'ecdsa' })
  const paths = await writeCertificateFiles(dir, set)
  t.same(paths, { ca: join(dir, 'ca.crt'), cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key') })
  t.same((await readdir(dir)).sort(), ['ca.crt', 'tls.crt', 'tls.key'], 'no temporary files left behind')
  t.equal(await readFile(paths.ca, 'utf8'), set.ca.cert)
  t.equal(await readFile(paths.cert, 'utf8'), set.serving.cert)
  t.equal(await readFile(paths.key, 'utf8'), set.serving.key)
  t.equal((await stat(paths.key)).mode & 0o777, 0o600)
  t.equal((await stat(paths.cert)).mode & 0o777, 0o644)
})

t.test('an atomic write replaces the file whole and reports the path when it cannot write', async t => {
  const dir = await tempDir(t)
  const path = join(dir, 'f')
  await writeFileAtomic(path, 'one', 0o600)
  await writeFileAtomic(path, 'two', 0o600)
  t.equal(await readFile(path, 'utf8'), 'two')
  await t.rejects(writeFileAtomic(join(dir, 'missing', 'f'), 'x', 0o600), { message: new RegExp(`^cannot write ${join(dir, 'missing', 'f')}: `) })
  t.same(await readdir(dir), ['f'], 'nothing left behind')
})

t.test('a bundle of the old and the new CA verifies both serving certificates with OpenSSL and with Node', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'spot-ca-bundle-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const request = { service: 'spot-webhook', namespace: 'spot-handler', hosts: ['127.0.0.1'], days: 30, keyType: 'ecdsa' as const }
  const old = await generateCertificates(request)
  const fresh = await generateCertificates(request)
  for (const pem of [old.ca.cert, old.serving.cert, old.serving.key, fresh.ca.cert]) t.ok(pem.endsWith('-----\n'), 'every PEM ends with a newline')
  t.not(new X509Certificate(old.ca.cert).subject, new X509Certificate(fresh.ca.cert).subject, 'each CA has its own subject')
  t.match(new X509Certificate(fresh.ca.cert).subject, /CN=spot-webhook\.spot-handler webhook CA/)
  const bundle = join(dir, 'ca.crt')
  await writeFile(bundle, old.ca.cert + fresh.ca.cert)
  for (const [name, set] of [['old', old], ['new', fresh]] as const) {
    const leaf = join(dir, `${name}.crt`)
    await writeFile(leaf, set.serving.cert)
    const { stdout } = await execFileAsync('openssl', ['verify', '-CAfile', bundle, leaf])
    t.equal(stdout.trim(), `${leaf}: OK`, `openssl verifies the ${name} certificate against the two-CA bundle`)
    const server = createServer({ cert: set.serving.cert, key: set.serving.key }, (_req, res) => res.end('ok'))
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as AddressInfo).port
    const answer = await new Promise<string>((resolve, reject) => {
      get({ host: '127.0.0.1', port, ca: old.ca.cert + fresh.ca.cert, servername: 'spot-webhook.spot-handler.svc' }, res => {
        let body = ''
        res.on('data', c => { body += c })
        res.on('end', () => resolve(body))
      }).on('error', reject)
    })
    server.close()
    t.equal(answer, 'ok', `Node verifies the ${name} certificate against the two-CA bundle`)
  }
})
