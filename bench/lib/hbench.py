#!/usr/bin/python3
"""hbench: the measuring half of bench/run (bench/run starts and stops the
servers; this file makes the load, reads /proc and prints results).

Every measuring subcommand prints one JSON object on stdout, which bench/run
appends to results.jsonl.  Server CPU is the run time of every thread of a
process and its direct children (nginx master + workers, or the
docker-registry process), from /proc/<pid>/task/*/schedstat (ns, where
utime+stime in /proc/<pid>/stat counts 10 ms ticks) before and after the
load.  Interrupt time (loopback TCP does much of its work in softirq) is
accounted to no process: it is reported apart, machine-wide.

The HTTP client is a small raw HTTP/1.1 client (keep-alive, large receive
buffer, sendfile(2) for request bodies), so the client spends as little of
the machine's CPU as it can: client and server share the same cores.

Only the Python standard library.
"""

import argparse
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import time

CLK_TCK = os.sysconf('SC_CLK_TCK')
MiB = 1 << 20
GiB = 1 << 30
RECV = 1 << 20          # client receive buffer
PIECE = 1 << 20         # piece of a Transfer-Encoding: chunked body

ACCEPT = ', '.join([
    'application/vnd.oci.image.manifest.v1+json',
    'application/vnd.docker.distribution.manifest.v2+json',
    'application/vnd.docker.distribution.manifest.v1+prettyjws',
    'application/vnd.docker.distribution.manifest.v1+json',
    'application/vnd.docker.distribution.manifest.list.v2+json',
    'application/vnd.oci.image.index.v1+json',
])
MT_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
MT_CONFIG = 'application/vnd.oci.image.config.v1+json'
MT_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip'


def die(msg):
    sys.stderr.write('hbench: %s\n' % msg)
    sys.exit(1)


# ---------------------------------------------------------------- /proc

def tree(root):
    """root and its direct children (nginx master and workers)"""
    pids = [root]
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % d) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(')') + 2:].split()
        if int(fields[1]) == root:
            pids.append(int(d))
    return pids


def cpu_ns(pids):
    """CPU time of every thread of pids, in ns (schedstat: exact, where
    utime+stime in /proc/<pid>/stat only counts 10 ms ticks)"""
    t = 0
    for p in pids:
        try:
            tasks = os.listdir('/proc/%d/task' % p)
        except OSError:
            continue
        for task in tasks:
            try:
                with open('/proc/%d/task/%s/schedstat' % (p, task)) as f:
                    t += int(f.read().split()[0])
            except OSError:
                pass
    return t


def machine_busy():
    """busy CPU seconds of the whole machine (/proc/stat): in processes,
    and in interrupts (loopback TCP does much of its work in softirq,
    which the kernel accounts to no process)"""
    with open('/proc/stat') as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = v
    return (user + nice + system + steal) / CLK_TCK, (irq + softirq) / CLK_TCK


class CPU:
    """CPU seconds over a block: with CPU(pid) as c: ...

    c.secs    the server (pid and its direct children: nginx master and
              workers; all threads of docker-registry)
    c.client  this process and the children it waited for (load generator)
    c.other   the rest of the machine: other tenants, kernel threads
              (writeback), whatever else ran meanwhile
    c.irq     interrupt and softirq time (loopback TCP, disk completions)
    """

    def __init__(self, root):
        self.pids = tree(root) if root else []

    def __enter__(self):
        self.c0 = os.times()
        self.m0 = machine_busy()
        self.t0 = cpu_ns(self.pids)
        self.w0 = time.monotonic()
        return self

    def __exit__(self, *exc):
        self.secs = (cpu_ns(self.pids) - self.t0) / 1e9
        self.wall = time.monotonic() - self.w0
        c1 = os.times()
        self.client = ((c1.children_user - self.c0.children_user)
                       + (c1.children_system - self.c0.children_system)
                       + (c1.user - self.c0.user)
                       + (c1.system - self.c0.system))
        busy, irq = machine_busy()
        self.other = max(0.0, busy - self.m0[0] - self.secs - self.client)
        self.irq = irq - self.m0[1]


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def summary(test, rounds, nbytes_key='bytes'):
    """median of rounds: throughput and CPU per GiB (each the median of
    its own), and the spread, so a disturbed round does not decide"""
    mib = [r[nbytes_key] / MiB / r['secs'] for r in rounds]
    cpu = [r['cpu'] / (r[nbytes_key] / GiB) for r in rounds]
    return {'test': test, 'rounds': len(rounds),
            'bytes': sum(r[nbytes_key] for r in rounds),
            'mib_s': median(mib), 'mib_s_min': min(mib),
            'mib_s_max': max(mib),
            'cpu_s_gib': median(cpu), 'cpu_s_gib_min': min(cpu),
            'cpu_s_gib_max': max(cpu),
            'client_cpu_s_gib': median(
                [r['client'] / (r[nbytes_key] / GiB) for r in rounds]),
            'irq_s_gib': median(
                [r['irq'] / (r[nbytes_key] / GiB) for r in rounds]),
            'other_cores': max(r['other'] / r['secs'] for r in rounds)}


def vm_hwm_kib(root):
    total = 0
    for p in tree(root):
        try:
            with open('/proc/%d/status' % p) as f:
                for line in f:
                    if line.startswith('VmHWM:'):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def emit(d):
    """one result line, tagged with the server bench/run is measuring"""
    d = dict(d)
    d.setdefault('server', os.environ.get('HB_SERVER', ''))
    print(json.dumps(d))
    sys.stdout.flush()


# ---------------------------------------------------------------- HTTP

class HTTPError(Exception):
    pass


class Conn:
    def __init__(self, port, host='127.0.0.1'):
        self.addr = (host, port)
        self.s = None
        self.buf = bytearray()
        self.big = None

    def open(self):
        if self.s is None:
            self.s = socket.create_connection(self.addr)
            self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.buf = bytearray()

    def close(self):
        if self.s is not None:
            self.s.close()
            self.s = None

    def send_head(self, method, path, headers):
        self.open()
        lines = ['%s %s HTTP/1.1' % (method, path),
                 'Host: %s:%d' % self.addr]
        lines += ['%s: %s' % kv for kv in headers]
        self.s.sendall(('\r\n'.join(lines) + '\r\n\r\n').encode())

    def _fill(self):
        chunk = self.s.recv(65536)
        if not chunk:
            raise HTTPError('connection closed by the server')
        self.buf += chunk

    def _line(self):
        while True:
            i = self.buf.find(b'\r\n')
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            self._fill()

    def _take(self, n, keep):
        """n body bytes: returned if keep, else discarded"""
        out = bytearray() if keep else None
        have = min(n, len(self.buf))
        if keep:
            out += self.buf[:have]
        del self.buf[:have]
        n -= have
        if n and self.big is None:
            self.big = bytearray(RECV)
        mv = memoryview(self.big) if n else None
        while n:
            got = self.s.recv_into(mv, min(n, RECV))
            if got == 0:
                raise HTTPError('connection closed in a body')
            if keep:
                out += mv[:got]
            n -= got
        return bytes(out) if keep else None

    def response(self, method, keep=True):
        """(status, headers (lowercase keys), body or None, body length)"""
        while True:
            status_line = self._line()
            m = re.match(rb'HTTP/1\.[01] (\d{3})', status_line)
            if not m:
                raise HTTPError('bad status line %r' % status_line)
            status = int(m.group(1))
            headers = {}
            while True:
                line = self._line()
                if not line:
                    break
                k, _, v = line.decode('latin-1').partition(':')
                headers[k.strip().lower()] = v.strip()
            if status >= 200:
                break
        body, size = (b'' if keep else None), 0
        if method != 'HEAD' and status not in (204, 304):
            if headers.get('transfer-encoding', '').lower() == 'chunked':
                parts = []
                while True:
                    n = int(self._line().split(b';')[0], 16)
                    if n == 0:
                        while self._line():
                            pass
                        break
                    part = self._take(n, keep)
                    if keep:
                        parts.append(part)
                    size += n
                    self._line()
                if keep:
                    body = b''.join(parts)
            elif 'content-length' in headers:
                size = int(headers['content-length'])
                body = self._take(size, keep)
            else:
                raise HTTPError('response without a length')
        if headers.get('connection', '').lower() == 'close':
            self.close()
        return status, headers, body, size

    def request(self, method, path, headers=(), body=None, keep=True):
        hdrs = list(headers)
        if body is not None:
            hdrs.append(('Content-Length', str(len(body))))
        self.send_head(method, path, hdrs)
        if body:
            self.s.sendall(body)
        return self.response(method, keep)

    def send_file(self, method, path, headers, f, offset, count):
        """a request whose body is count bytes of f from offset"""
        hdrs = list(headers) + [('Content-Length', str(count))]
        self.send_head(method, path, hdrs)
        sent = 0
        while sent < count:
            n = self.s.sendfile(f, offset + sent, count - sent)
            if n == 0:
                raise HTTPError('sendfile sent nothing')
            sent += n
        return self.response(method)

    def send_file_chunked(self, method, path, headers, f, size):
        """a request with Transfer-Encoding: chunked, as Go clients send a
        stream of unknown length (skopeo, containerd, docker)"""
        hdrs = list(headers) + [('Transfer-Encoding', 'chunked')]
        self.send_head(method, path, hdrs)
        off = 0
        while off < size:
            n = min(PIECE, size - off)
            self.s.sendall(b'%x\r\n' % n)
            done = 0
            while done < n:
                done += self.s.sendfile(f, off + done, n - done)
            self.s.sendall(b'\r\n')
            off += n
        self.s.sendall(b'0\r\n\r\n')
        return self.response(method)


def expect(what, got, status):
    if got[0] not in status:
        raise HTTPError('%s: status %d, wanted %s; %r' % (
            what, got[0], status, (got[2] or b'')[:300]))
    return got


def location(headers):
    loc = headers.get('location')
    if not loc:
        raise HTTPError('no Location in the response')
    return re.sub(r'^https?://[^/]+', '', loc)


def with_query(path, query):
    return path + ('&' if '?' in path else '?') + query


# ---------------------------------------------------------------- data

def mkdata(a):
    """blobs of random bytes, the config and manifest of the pulled image"""
    os.makedirs(a.dir, exist_ok=True)
    size = a.size * MiB
    index = {'size': size, 'blobs': []}
    names = ['pull'] + ['push%d' % i for i in range(a.count)]
    for name in names:
        path = os.path.join(a.dir, name + '.blob')
        h = hashlib.sha256()
        with open(path, 'wb') as f:
            left = size
            while left:
                b = os.urandom(min(left, 8 * MiB))
                h.update(b)
                f.write(b)
                left -= len(b)
        index['blobs'].append({'name': name, 'path': path,
                               'digest': 'sha256:' + h.hexdigest()})
    pull = index['blobs'][0]
    config = json.dumps({
        'architecture': 'amd64', 'os': 'linux',
        'rootfs': {'type': 'layers', 'diff_ids': [pull['digest']]},
        'config': {'Labels': {'org.example.bench': 'ngx-harbor'}},
    }, sort_keys=True).encode()
    cdig = 'sha256:' + hashlib.sha256(config).hexdigest()
    manifest = json.dumps({
        'schemaVersion': 2, 'mediaType': MT_MANIFEST,
        'config': {'mediaType': MT_CONFIG, 'digest': cdig,
                   'size': len(config)},
        'layers': [{'mediaType': MT_LAYER, 'digest': pull['digest'],
                    'size': size}],
    }, indent=3, sort_keys=True).encode()
    for name, data in (('config.json', config), ('manifest.json', manifest)):
        with open(os.path.join(a.dir, name), 'wb') as f:
            f.write(data)
    index['config'] = cdig
    index['manifest'] = 'sha256:' + hashlib.sha256(manifest).hexdigest()
    with open(os.path.join(a.dir, 'index.json'), 'w') as f:
        json.dump(index, f, indent=1)
    emit(index)


def load_index(d):
    with open(os.path.join(d, 'index.json')) as f:
        return json.load(f)


def blob_named(ix, name):
    for b in ix['blobs']:
        if b['name'] == name:
            return b
    die('no blob %s' % name)


# ---------------------------------------------------------------- push

def push_blob(c, repo, mode, blob, size, chunk):
    """one blob into repo by an upload of the given mode; returns the
    number of HTTP requests it took"""
    d = blob['digest']
    octet = [('Content-Type', 'application/octet-stream')]
    up = '/v2/%s/blobs/uploads/' % repo
    with open(blob['path'], 'rb') as f:
        if mode == 'mono':
            # the single POST of the spec (distribution 2.8 lacks it)
            expect('POST ?digest=', c.send_file(
                'POST', with_query(up, 'digest=' + d), octet, f, 0, size),
                (201,))
            return 1
        if mode == 'dav':
            expect('DAV PUT', c.send_file(
                'PUT', '/dav/%s/%s' % (repo, d.replace(':', '_')),
                octet, f, 0, size), (201, 204))
            return 1
        loc = location(expect('POST', c.request('POST', up, body=b''),
                              (202,))[1])
        if mode == 'put':
            # POST, then PUT ?digest= with the whole body
            expect('PUT', c.send_file('PUT', with_query(loc, 'digest=' + d),
                                      octet, f, 0, size), (201,))
            return 2
        n = 2
        if mode == 'chunked':
            off = 0
            while off < size:
                count = min(chunk, size - off)
                r = expect('PATCH', c.send_file(
                    'PATCH', loc, octet + [
                        ('Content-Range', '%d-%d' % (off, off + count - 1))],
                    f, off, count), (202,))
                if r[1].get('range') != '0-%d' % (off + count - 1):
                    raise HTTPError('PATCH: Range %r after %d bytes' % (
                        r[1].get('range'), off + count))
                loc = location(r[1])
                off += count
                n += 1
        elif mode == 'stream':
            r = expect('PATCH', c.send_file_chunked('PATCH', loc, octet, f,
                                                    size), (202,))
            loc = location(r[1])
            n += 1
        else:
            die('unknown push mode ' + mode)
        expect('PUT', c.request('PUT', with_query(loc, 'digest=' + d),
                                body=b''), (201,))
        return n


# ---------------------------------------------------------------- servers

class Server:
    """--server NAME:KIND:PORT:PID; KIND says how it takes a push:
    harbor        POST ?digest= (monolithic), PATCH xN, streamed PATCH
    distribution  the same but its monolithic push is POST + PUT with the
                  body (distribution 2.8 ignores ?digest= on POST)
    static        plain nginx: a dav PUT stands in for the monolithic push
    """

    MODES = {
        'harbor': {'push_mono': 'mono', 'push_chunked': 'chunked',
                   'push_stream': 'stream'},
        'distribution': {'push_mono': 'put', 'push_chunked': 'chunked',
                         'push_stream': 'stream'},
        'static': {'push_mono': 'dav'},
    }

    def __init__(self, spec):
        try:
            self.name, self.kind, port, pid = spec.split(':')
            self.port, self.pid = int(port), int(pid)
        except ValueError:
            die('--server NAME:KIND:PORT:PID, not %r' % spec)
        if self.kind not in self.MODES:
            die('unknown server kind %r' % self.kind)

    def emit(self, d):
        d = dict(d)
        d['server'] = self.name
        emit(d)


def servers(a):
    return [Server(spec) for spec in a.server]


PUSH_TESTS = ('push_mono', 'push_chunked', 'push_stream')


def push(a):
    """Every blob goes to every server, one push at a time, each measured
    on its own: for each blob, the modes take turns (mono, chunked,
    stream), and within a mode the servers take turns, so that no server
    and no mode gets all the quiet or all the disturbed moments.  Dirty
    pages are written back before each push (not timed), so that one
    push's writeback does not land on the next.  One result per server and
    mode: the median over its blobs."""
    ix = load_index(a.data)
    names = a.blobs.split(',')
    svs = servers(a)
    rounds = {(sv.name, t): [] for sv in svs for t in PUSH_TESTS}
    reqs = {}
    pushed = []
    conns = {sv.name: Conn(sv.port) for sv in svs}
    for k, name in enumerate(names):
        test = PUSH_TESTS[k % len(PUSH_TESTS)]
        b = blob_named(ix, name)
        for sv in svs:
            mode = Server.MODES[sv.kind].get(test)
            if mode is None:
                continue
            repo = '%s/%s' % (a.repo, mode)
            os.sync()
            with CPU(sv.pid) as cpu:
                n = push_blob(conns[sv.name], repo, mode, b, ix['size'],
                              a.chunk * MiB)
            reqs[(sv.name, test)] = reqs.get((sv.name, test), 0) + n
            rounds[(sv.name, test)].append({
                'bytes': ix['size'], 'secs': cpu.wall, 'cpu': cpu.secs,
                'client': cpu.client, 'other': cpu.other, 'irq': cpu.irq})
            pushed.append((sv, mode, repo, b))
    for c in conns.values():
        c.close()
    # every blob pushed to a registry is there, by HEAD, with its size
    for sv, mode, repo, b in pushed:
        if mode == 'dav':
            continue
        c = conns[sv.name]
        r = expect('HEAD', c.request('HEAD', '/v2/%s/blobs/%s' % (
            repo, b['digest'])), (200,))
        if int(r[1].get('content-length', -1)) != ix['size']:
            raise HTTPError('%s: HEAD %s: wrong length' % (
                sv.name, b['digest']))
    for c in conns.values():
        c.close()
    for sv in svs:
        for test in PUSH_TESTS:
            if not rounds[(sv.name, test)]:
                continue
            out = summary(test, rounds[(sv.name, test)])
            out.update({'mode': Server.MODES[sv.kind][test],
                        'requests': reqs[(sv.name, test)]})
            if test == 'push_chunked':
                out['chunk'] = a.chunk * MiB
            sv.emit(out)


# ---------------------------------------------------------------- seed

def seed(a):
    """push the pulled image (config, layer, manifest) and check it reads
    back byte for byte"""
    ix = load_index(a.data)
    pull = blob_named(ix, 'pull')
    c = Conn(a.port)
    with open(os.path.join(a.data, 'config.json'), 'rb') as f:
        config = f.read()
    with open(os.path.join(a.data, 'manifest.json'), 'rb') as f:
        manifest = f.read()
    up = '/v2/%s/blobs/uploads/' % a.repo
    loc = location(expect('POST', c.request('POST', up, body=b''),
                          (202,))[1])
    expect('PUT config', c.request(
        'PUT', with_query(loc, 'digest=' + ix['config']),
        [('Content-Type', 'application/octet-stream')], config), (201,))
    push_blob(c, a.repo, 'put', pull, ix['size'], 0)
    expect('PUT manifest', c.request(
        'PUT', '/v2/%s/manifests/%s' % (a.repo, a.tag),
        [('Content-Type', MT_MANIFEST)], manifest), (201,))
    verify(c, a.repo, a.tag, ix)
    c.close()
    emit({'test': 'seed', 'ok': True})


def verify(c, repo, tag, ix, mpath=None, bpath=None):
    pull = blob_named(ix, 'pull')
    mpath = mpath or '/v2/%s/manifests/%s' % (repo, tag)
    bpath = bpath or '/v2/%s/blobs/%s' % (repo, pull['digest'])
    st, h, body, _ = expect('GET manifest', c.request(
        'GET', mpath, [('Accept', ACCEPT)]), (200,))
    if 'sha256:' + hashlib.sha256(body).hexdigest() != ix['manifest']:
        raise HTTPError('GET %s: not the pushed manifest' % mpath)
    if not h.get('content-type', '').startswith(MT_MANIFEST):
        raise HTTPError('GET %s: Content-Type %r' % (
            mpath, h.get('content-type')))
    st, h, body, _ = expect('GET blob', c.request('GET', bpath), (200,))
    if 'sha256:' + hashlib.sha256(body).hexdigest() != pull['digest']:
        raise HTTPError('GET %s: not the pushed blob' % bpath)


def check(a):
    """the same bytes come back from a server (plain nginx included)"""
    ix = load_index(a.data)
    c = Conn(a.port)
    verify(c, a.repo, a.tag, ix, a.manifest_path, a.blob_path)
    c.close()
    emit({'test': 'check', 'ok': True})


# ---------------------------------------------------------------- pull

def pull_round(sv, path, clients, size):
    """c clients, each on its own connection, each GETs the blob once,
    all at the same moment; bytes are counted, not kept"""
    rd, wr = os.pipe()          # start line: all clients go at once
    res_r, res_w = os.pipe()
    kids = []
    for _ in range(clients):
        pid = os.fork()
        if pid == 0:
            os.close(wr)
            os.close(res_r)
            code = 0
            try:
                c = Conn(sv.port)
                c.open()
                os.read(rd, 1)
                c.send_head('GET', path, [])
                st, h, _, got = c.response('GET', keep=False)
                if st != 200 or got != size:
                    raise HTTPError('GET %s: %s, %d bytes' % (path, st, got))
                os.write(res_w, b'%d\n' % got)
            except Exception as e:                    # noqa: BLE001
                sys.stderr.write('hbench pull %s: %s\n' % (sv.name, e))
                code = 1
            os._exit(code)
        kids.append(pid)
    os.close(rd)
    os.close(res_w)
    # the clients have connected (loopback: at once); then the start line
    time.sleep(0.05)
    with CPU(sv.pid) as cpu:
        os.write(wr, b'x' * clients)
        failed = 0
        for pid in kids:
            _, status = os.waitpid(pid, 0)
            failed += status != 0
    os.close(wr)
    with os.fdopen(res_r) as f:
        nbytes = sum(int(x) for x in f.read().split())
    if failed:
        die('%s: %d of %d pull clients failed' % (sv.name, failed, clients))
    return {'bytes': nbytes, 'secs': cpu.wall, 'cpu': cpu.secs,
            'client': cpu.client, 'other': cpu.other, 'irq': cpu.irq}


def pull(a):
    """rounds of c simultaneous GETs, the servers taking turns"""
    ix = load_index(a.data)
    svs = servers(a)
    rounds = {sv.name: [] for sv in svs}
    for _ in range(a.rounds):
        for sv in svs:
            rounds[sv.name].append(pull_round(sv, a.path, a.clients,
                                              ix['size']))
    for sv in svs:
        out = summary(a.test, rounds[sv.name])
        out.update({'clients': a.clients, 'gets': a.clients * a.rounds})
        sv.emit(out)


# ---------------------------------------------------------------- wrk

UNIT = {'us': 1e-3, 'ms': 1.0, 's': 1000.0}


def load_cmd(a, sv, secs):
    url = 'http://127.0.0.1:%d%s' % (sv.port, a.path)
    if a.method == 'HEAD':
        # ab: wrk waits for a body that never comes after a HEAD
        return ['ab', '-q', '-i', '-k', '-c', str(a.connections),
                '-t', '%g' % secs, '-n', '100000000', '-e', a.csv,
                '-H', 'Accept: ' + ACCEPT, url]
    return ['wrk', '-t', str(a.threads), '-c', str(a.connections),
            '-d', '%gs' % secs, '--latency', '--timeout', '5s',
            '-H', 'Accept: ' + ACCEPT, url]


def load_run(a, sv):
    """one run of wrk --latency (GET) or ab -i (HEAD); p50, p99 in ms"""
    with CPU(sv.pid) as cpu:
        p = subprocess.run(load_cmd(a, sv, a.duration), check=True,
                           stdout=subprocess.PIPE, universal_newlines=True)
    out = p.stdout
    if a.method == 'HEAD':
        m = re.search(r'Requests per second:\s+([\d.]+)', out)
        n = re.search(r'Complete requests:\s+(\d+)', out)
        bad = re.search(r'Non-2xx responses:\s+(\d+)', out)
        fails = re.search(r'Failed requests:\s+(\d+)', out)
        pct = {}
        with open(a.csv) as f:
            for line in f:
                k, _, v = line.strip().partition(',')
                if k.isdigit():
                    pct[int(k)] = float(v)
        if not (m and n and 99 in pct):
            die('cannot read ab output:\n' + out)
        p50, p99 = pct[50], pct[99]
        errors = fails.group(1) if fails and fails.group(1) != '0' else ''
    else:
        m = re.search(r'Requests/sec:\s+([\d.]+)', out)
        n = re.search(r'(\d+) requests in', out)
        q99 = re.search(r'^\s+99%\s+([\d.]+)(us|ms|s)\s*$', out, re.M)
        q50 = re.search(r'^\s+50%\s+([\d.]+)(us|ms|s)\s*$', out, re.M)
        if not (m and n and q99 and q50):
            die('cannot read wrk output:\n' + out)
        p50 = float(q50.group(1)) * UNIT[q50.group(2)]
        p99 = float(q99.group(1)) * UNIT[q99.group(2)]
        bad = re.search(r'Non-2xx or 3xx responses: (\d+)', out)
        errs = re.search(r'Socket errors: (.*)', out)
        errors = errs.group(1) if errs else ''
    reqs = int(n.group(1))
    non2xx = int(bad.group(1)) if bad else 0
    if non2xx or reqs == 0:
        sys.stderr.write(out)
        die('%s %s: %d requests, %d not 2xx' % (sv.name, a.test, reqs,
                                                 non2xx))
    return {'rps': float(m.group(1)), 'requests': reqs, 'p50_ms': p50,
            'p99_ms': p99, 'cpu': cpu.secs,
            'cpu_us_req': cpu.secs * 1e6 / reqs, 'errors': errors,
            'client_us_req': cpu.client * 1e6 / reqs,
            'irq_us_req': cpu.irq * 1e6 / reqs,
            'other_cores': cpu.other / cpu.wall}


def wrk(a):
    """a warm-up of each server, then runs of wrk or ab, the servers taking
    turns, with server CPU around each; every figure is the median over
    the runs of a server"""
    svs = servers(a)
    if a.warmup:
        for sv in svs:
            subprocess.run(load_cmd(a, sv, a.warmup), check=True,
                           stdout=subprocess.DEVNULL)
    runs = {sv.name: [] for sv in svs}
    for _ in range(a.runs):
        for sv in svs:
            runs[sv.name].append(load_run(a, sv))
    for sv in svs:
        rs = runs[sv.name]
        res = {'test': a.test, 'method': a.method,
               'tool': 'ab' if a.method == 'HEAD' else 'wrk',
               'runs': a.runs, 'duration': a.duration,
               'requests': sum(r['requests'] for r in rs),
               'rps_all': [r['rps'] for r in rs],
               'p99_all': [r['p99_ms'] for r in rs],
               'errors': ' '.join(r['errors'] for r in rs if r['errors']),
               'other_cores': max(r['other_cores'] for r in rs)}
        for k in ('rps', 'p50_ms', 'p99_ms', 'cpu_us_req', 'client_us_req',
                  'irq_us_req'):
            res[k] = median([r[k] for r in rs])
        res['rps_min'] = min(res['rps_all'])
        res['rps_max'] = max(res['rps_all'])
        sv.emit(res)


# ---------------------------------------------------------------- misc

def rss(a):
    for sv in servers(a):
        sv.emit({'test': 'rss', 'vm_hwm_kib': vm_hwm_kib(sv.pid),
                 'processes': len(tree(sv.pid))})


def main():
    ap = argparse.ArgumentParser(prog='hbench')
    sub = ap.add_subparsers(dest='cmd', required=True)

    p = sub.add_parser('mkdata')
    p.add_argument('--dir', required=True)
    p.add_argument('--size', type=int, required=True, help='MiB per blob')
    p.add_argument('--count', type=int, required=True, help='pushed blobs')
    p.set_defaults(fn=mkdata)

    def one(p):
        p.add_argument('--port', type=int, required=True)
        p.add_argument('--data', required=True)
        p.add_argument('--repo', required=True)
        p.add_argument('--tag', required=True)

    def many(p, data=True):
        p.add_argument('--server', action='append', required=True,
                       help='NAME:KIND:PORT:PID (repeat; they take turns)')
        if data:
            p.add_argument('--data', required=True)
        p.add_argument('--test', default='')

    p = sub.add_parser('seed')
    one(p)
    p.set_defaults(fn=seed)

    p = sub.add_parser('check')
    one(p)
    p.add_argument('--manifest-path')
    p.add_argument('--blob-path')
    p.set_defaults(fn=check)

    p = sub.add_parser('pull')
    many(p)
    p.add_argument('--path', required=True)
    p.add_argument('--clients', type=int, default=1)
    p.add_argument('--rounds', type=int, default=1)
    p.set_defaults(fn=pull)

    p = sub.add_parser('push')
    many(p)
    p.add_argument('--repo', required=True)
    p.add_argument('--blobs', required=True,
                   help='names, comma-separated, dealt to the push modes '
                   'in turn')
    p.add_argument('--chunk', type=int, default=64, help='MiB per PATCH')
    p.set_defaults(fn=push)

    p = sub.add_parser('wrk')
    many(p, data=False)
    p.add_argument('--path', required=True)
    p.add_argument('--method', default='GET', choices=['GET', 'HEAD'])
    p.add_argument('--csv', help='ab percentile file (HEAD)')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--connections', type=int, default=64)
    p.add_argument('--duration', type=float, default=5, help='each run')
    p.add_argument('--runs', type=int, default=3)
    p.add_argument('--warmup', type=float, default=0)
    p.set_defaults(fn=wrk)

    p = sub.add_parser('rss')
    many(p, data=False)
    p.set_defaults(fn=rss)

    a = ap.parse_args()
    try:
        a.fn(a)
    except KeyboardInterrupt:
        sys.exit(130)
    except subprocess.CalledProcessError as e:
        die('%s: %s exited with %s' % (a.cmd, e.cmd[0], e.returncode))
    except (HTTPError, OSError) as e:
        die('%s: %s' % (a.cmd, e))


if __name__ == '__main__':
    main()
