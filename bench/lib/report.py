#!/usr/bin/python3
"""report: the table of a bench/run, printed, and written into the
generated block of docs/performance.md (between the bench:begin and
bench:end markers; the text around them is kept)."""

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys

def markers(label):
    return ('<!-- bench:begin %s (written by bench/run; edits here are '
            'lost) -->' % label, '<!-- bench:end %s -->' % label)

SERVERS = ('harbor', 'distribution', 'nginx')

# test, field, label, better, format, target
ROWS = [
    ('pull1', 'mib_s', 'Blob pull, 1 client: MiB/s', 'high', '%.0f',
     ('nginx', 0.8)),
    ('pull1', 'cpu_s_gib', 'Blob pull, 1 client: server CPU s/GiB', 'low',
     '%.3f', None),
    ('pull8', 'mib_s', 'Blob pull, 8 clients: MiB/s', 'high', '%.0f',
     ('nginx', 0.8)),
    ('pull8', 'cpu_s_gib', 'Blob pull, 8 clients: server CPU s/GiB', 'low',
     '%.3f', None),
    ('manifest', 'rps', 'Manifest GET by tag: req/s', 'high', '%.0f',
     ('nginx', 0.8)),
    ('manifest', 'p99_ms', 'Manifest GET by tag: p99 ms', 'low', '%.2f',
     None),
    ('manifest', 'cpu_us_req', 'Manifest GET by tag: server CPU us/req',
     'low', '%.1f', None),
    ('head', 'rps', 'Blob HEAD (ab): req/s', 'high', '%.0f', ('nginx', 0.8)),
    ('head', 'p99_ms', 'Blob HEAD (ab): p99 ms', 'low', '%.2f', None),
    ('head', 'cpu_us_req', 'Blob HEAD (ab): server CPU us/req', 'low', '%.1f',
     None),
    ('push_mono', 'mib_s', 'Monolithic push: MiB/s', 'high', '%.0f',
     ('distribution', 4.0)),
    ('push_mono', 'cpu_s_gib', 'Monolithic push: server CPU s/GiB', 'low',
     '%.3f', None),
    ('push_chunked', 'mib_s', 'Chunked push: MiB/s', 'high', '%.0f',
     ('distribution', 4.0)),
    ('push_chunked', 'cpu_s_gib', 'Chunked push: server CPU s/GiB', 'low',
     '%.3f', None),
    ('push_stream', 'mib_s', 'Streamed push: MiB/s', 'high', '%.0f',
     ('distribution', 4.0)),
    ('push_stream', 'cpu_s_gib', 'Streamed push: server CPU s/GiB', 'low',
     '%.3f', None),
    ('rss', 'vm_hwm_mib', 'Peak RSS (VmHWM, all processes): MiB', 'low',
     '%.1f', None),
]


def load(path):
    res = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith('{'):
                continue
            d = json.loads(line)
            if d.get('test') == 'rss':
                d['vm_hwm_mib'] = d['vm_hwm_kib'] / 1024
            res[(d.get('server'), d.get('test'))] = d
    return res


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_ratio(r):
    return '—' if r is None else '%.2f' % r


def table(res):
    head = ('| Metric | ours (nginx + module) | distribution 2.8 '
            '| plain nginx | ours / distribution | ours / plain nginx '
            '| target |')
    lines = [head, '|' + '---|' * 7]
    for test, field, label, better, f, target in ROWS:
        vals = {}
        for s in SERVERS:
            d = res.get((s, test))
            vals[s] = d.get(field) if d else None
        cells = []
        for s in SERVERS:
            d = res.get((s, test))
            if vals[s] is None:
                cells.append('—')
            elif d and field + '_min' in d and d.get('rounds', 0) > 1:
                cells.append('%s (%s–%s)' % (f % vals[s],
                                             f % d[field + '_min'],
                                             f % d[field + '_max']))
            else:
                cells.append(f % vals[s])
        rd = ratio(vals['harbor'], vals['distribution'])
        rn = ratio(vals['harbor'], vals['nginx'])
        tgt = ''
        if target:
            other, want = target
            r = rd if other == 'distribution' else rn
            name = 'distribution' if other == 'distribution' else 'nginx'
            if r is None:
                tgt = '≥ %g × %s: —' % (want, name)
            else:
                tgt = '≥ %g × %s: %s' % (want, name,
                                          'met' if r >= want else '**missed**')
        arrow = '↑' if better == 'high' else '↓'
        lines.append('| %s %s | %s | %s | %s | %s | %s | %s |' % (
            label, arrow, cells[0], cells[1], cells[2], fmt_ratio(rd),
            fmt_ratio(rn), tgt))
    return '\n'.join(lines)


def sh(cmd):
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True,
                           timeout=10)
        return p.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return '?'


def machine(store_dir):
    model = '?'
    flags = ''
    with open('/proc/cpuinfo') as f:
        for line in f:
            if line.startswith('model name') and model == '?':
                model = line.split(':', 1)[1].strip()
            if line.startswith('flags') and not flags:
                flags = line.split(':', 1)[1].split()
    mem = '?'
    with open('/proc/meminfo') as f:
        for line in f:
            if line.startswith('MemTotal:'):
                mem = '%.1f GiB' % (int(line.split()[1]) / 1048576)
    fs = sh(['df', '-PT', store_dir]).splitlines()[-1].split()
    extra = [x for x in ('sha_ni', 'avx2', 'avx512f') if x in flags]
    return {
        'nproc': sh(['nproc']),
        'cpu': model,
        'cpu_flags': ' '.join(extra),
        'mem': mem,
        'kernel': platform.release(),
        'os': sh(['sh', '-c', '. /etc/os-release; echo $PRETTY_NAME']),
        'fs': '%s on %s (%s)' % (fs[1], fs[6], fs[0]) if len(fs) > 6 else '?',
    }


def read(path):
    try:
        with open(path) as f:
            return f.read().rstrip()
    except OSError:
        return '(not run)'


def scrub(text, tmp, data):
    """temporary paths as placeholders, so the document does not churn"""
    text = text.replace(tmp, '$T')
    if data:
        text = text.replace(data, '$D')
    return text


def block(a, res):
    m = machine(a.store_dir)
    now = datetime.datetime.now(datetime.timezone.utc)
    top = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    rev = sh(['git', '-C', top, 'rev-parse', '--short', 'HEAD'])
    dirty = sh(['git', '-C', top, 'status', '--porcelain', '--',
                'ngx_harbor_module', 'config'])
    modsum = sh(['sha256sum', a.module]).split()[0][:16]
    nginx_v = sh([a.nginx, '-v']).replace('nginx version: ', '')
    reg_v = sh([a.registry, '--version'])

    begin, end = markers(a.label)
    out = [begin, '']
    out.append('Run on %s with:' % now.strftime('%Y-%m-%d %H:%M UTC'))
    out += ['', '    ' + a.command, '']
    out.append('- machine: %s cores (`nproc`), %s%s, %s RAM, %s, kernel %s'
               % (m['nproc'], m['cpu'],
                  ' [%s]' % m['cpu_flags'] if m['cpu_flags'] else '',
                  m['mem'], m['os'], m['kernel']))
    out.append('- stores (all three servers): %s' % m['fs'])
    if a.t1 > a.t0 and a.psi1 >= a.psi0:
        stall = (a.psi1 - a.psi0) / 1e6 / (a.t1 - a.t0) * 100
        out.append('- CPU pressure over the run (/proc/pressure/cpu, some; '
                   'the load generator itself competes with the server, so '
                   'this is never 0): %.0f%%' % stall)
    out.append('- servers: nginx %s + module (git %s%s, .so sha256 %s…); '
               '%s; the same nginx for the plain baseline'
               % (nginx_v, rev, ', module sources modified' if dirty else '',
                  modsum, reg_v))
    out.append('- load (client on the same machine, `bench/lib/hbench.py`): '
               '%d MiB blobs of random bytes.  Pulls: %d rounds of 1 GET, '
               'and %d rounds of 8 simultaneous GETs on 8 connections.  '
               'Manifest GET by tag: wrk, 2 threads, 64 connections, with '
               'the Accept header skopeo sends; blob HEAD: `ab -i -k`, 64 '
               'connections (wrk cannot HEAD); %d runs of %g s each after '
               'a %g s warm-up.  Pushes: %d blobs per mode, each new to the '
               'server, each timed alone; chunked = POST, PATCHes of %d MiB '
               'with Content-Range, PUT ?digest=; streamed = POST, one '
               'PATCH with Transfer-Encoding: chunked (what skopeo, '
               'containerd and docker send), PUT ?digest=.'
               % (a.size, a.pull1, a.pull8, a.runs, a.duration, a.warmup,
                  a.pushes, a.chunk))
    out.append('- every figure is the median over its rounds/runs/blobs; '
               'for transfers the (min–max) follows')
    out.append('- client_body_buffer_size %s%s' % (
        a.body_buffer, '; harbor_journal on' if a.journal == '1' else ''))
    out.append('')
    out.append(table(res))
    out.append('')
    other = [(d.get('other_cores', 0), k) for k, d in res.items()
             if 'other_cores' in d]
    if other:
        worst, (srv, test) = max(other)
        mid = sorted(o for o, _ in other)[len(other) // 2]
        out.append('CPU used meanwhile by neither the server nor the load '
                   'generator (other processes on the machine, kernel '
                   'writeback threads): median %.2f, at most %.2f of %s '
                   'cores (%s, %s).%s'
                   % (mid, worst, m['nproc'], srv, test,
                      '  **Other work shared the machine during this run: '
                      'throughput and latency figures are disturbed; CPU '
                      'per GiB or per request is the more robust '
                      'figure.**' if mid > 0.25 else ''))
        out.append('')
    out.append('↑ higher is better, ↓ lower is better.  Ratios are ours '
               'divided by the other server, whatever the direction.  '
               'Plain nginx has no chunked or streamed upload: its '
               '"monolithic push" is a dav module PUT of the same bytes '
               '(no fsync).  Distribution 2.8 ignores `?digest=` on POST, '
               'so its monolithic push is POST then PUT `?digest=` with the '
               'body (one more round trip of no consequence at this size).')
    out.append('')
    for title, path, lang in (
            ('nginx + module (ours)', 'harbor.conf', 'nginx'),
            ('plain nginx', 'nginx.conf', 'nginx'),
            ('distribution (`docker-registry serve`)', 'distribution.yml',
             'yaml')):
        text = scrub(read(os.path.join(a.tmp, path)), a.tmp, a.data_dir)
        out += ['<details><summary>%s configuration</summary>' % title, '',
                '```' + lang, text, '```', '', '</details>', '']
    out.append(end)
    return '\n'.join(out)


def write_doc(path, text, label):
    begin, end = markers(label)
    try:
        with open(path) as f:
            old = f.read()
    except FileNotFoundError:
        old = '# Performance\n\n' + begin + '\n' + end + '\n'
    i = old.find(begin[:begin.index('(')])
    j = old.find(end)
    END = end
    if i < 0 or j < 0:
        new = old.rstrip() + '\n\n' + text + '\n'
    else:
        new = old[:i] + text + old[j + len(END):]
    with open(path + '.tmp', 'w') as f:
        f.write(new)
    os.rename(path + '.tmp', path)


def main():
    ap = argparse.ArgumentParser()
    for opt in ('results', 'tmp', 'store-dir', 'command', 'nginx',
                'registry', 'module', 'data-dir', 'body-buffer', 'journal'):
        ap.add_argument('--' + opt, required=True)
    for opt in ('size', 'pushes', 'chunk', 'pull1', 'pull8', 'runs'):
        ap.add_argument('--' + opt, type=int, required=True)
    ap.add_argument('--duration', type=float, required=True)
    ap.add_argument('--warmup', type=float, required=True)
    ap.add_argument('--label', default='main')
    for opt in ('psi0', 'psi1', 't0', 't1'):
        ap.add_argument('--' + opt, type=float, default=0)
    ap.add_argument('--doc')
    a = ap.parse_args()

    res = load(a.results)
    text = block(a, res)
    print(table(res))
    if a.doc:
        write_doc(a.doc, text, a.label)
        print('\nwrote %s' % a.doc, file=sys.stderr)


if __name__ == '__main__':
    main()
