// The cluster panel on /registry: with two registry nodes on one etcd, killing the
// leading node (-9) shows the other one leading, and the killed one down, without a
// reload. Everything here is started by the test on free ports: etcd (Debian's, a
// single member on a temp data dir), two registryservice nodes and a portal.
import { test, expect } from '@playwright/test';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { hydrated, startService, watchErrors } from './helpers';

const bin = (name: string) => process.env[`${name.toUpperCase()}_BIN`]!;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}


async function etcdHealthy(url: string): Promise<boolean> {
  try {
    const answer = await fetch(`${url}/health`);
    return (await answer.text()).includes('true');
  } catch {
    return false;
  }
}

test('the cluster panel shows the leader change after the leader is killed, without a reload', async ({ page }) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distributed-e2e-cluster-'));
  const children: ChildProcess[] = [];
  try {
    const [client, peer] = [await freePort(), await freePort()];
    const etcdUrl = `http://127.0.0.1:${client}`;
    const peerUrl = `http://127.0.0.1:${peer}`;
    children.push(
      spawn('etcd', [
        '--name', 'e2e', '--data-dir', path.join(dir, 'etcd'),
        '--listen-client-urls', etcdUrl, '--advertise-client-urls', etcdUrl,
        '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl,
        '--initial-cluster', `e2e=${peerUrl}`,
      ], { stdio: 'ignore' }),
    );
    await expect.poll(() => etcdHealthy(etcdUrl), { timeout: 30_000 }).toBe(true);

    const node = () =>
      startService(bin('registryservice'), ['--addr', '127.0.0.1:0', '--etcd', etcdUrl, '--leader-lease', '2s']);
    const nodes = [await node(), await node()];
    children.push(...nodes.map((n) => n.child));
    const portal = await startService(bin('portal'), [
      '--addr', '127.0.0.1:0',
      '--registry-url', nodes.map((n) => n.url).join(','),
      '--site-root', process.env.SITE_ROOT!,
    ]);
    children.push(portal.child);

    const errors = watchErrors(page);
    await page.goto(`${portal.url}/registry`);
    await hydrated(page);
    await page.evaluate(() => ((window as any).__noReload = true));
    const leaderRow = page.locator('.cluster-nodes tr[data-role="leader"]');
    // Generous limits: the bounds themselves are make bench's; here, that it happens live.
    await expect(leaderRow).toHaveCount(1, { timeout: 30_000 });
    await expect(page.locator('.cluster-nodes tr[data-role="follower"]')).toHaveCount(1, { timeout: 30_000 });
    const leader = (await leaderRow.getAttribute('data-node'))!;
    const other = nodes.find((n) => n.url !== leader)!;

    nodes.find((n) => n.url === leader)!.child.kill('SIGKILL');
    await expect(page.locator(`.cluster-nodes tr[data-node="${other.url}"]`)).toHaveAttribute('data-role', 'leader', {
      timeout: 30_000,
    });
    await expect(page.locator(`.cluster-nodes tr[data-node="${leader}"]`)).toHaveAttribute('data-role', 'down');
    await expect(page.locator('.etcd-members tr[data-state="healthy"]')).toHaveCount(1);
    expect(await page.evaluate(() => (window as any).__noReload)).toBe(true);
    // A hydration mismatch or a panic in the WASM is a page error.
    expect(errors.filter((e) => e.startsWith('pageerror'))).toEqual([]);
  } finally {
    for (const child of children) child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
