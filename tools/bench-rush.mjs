// make bench: the deadline rush (issue 10), measured.
//
//   node tools/bench-rush.mjs BASE SESSIONS CATALOG PROJECT SECONDS WARMUP
//
// Every hospital session of SESSIONS ("hospital K SID CSRF" lines: K is the
// rush number, its catalog block K % 20) is one clerk on a kept-alive
// connection of its own: open the filing page on one of its two pages
// (GET /filing, the HTML page), think, save that page's 50 lines
// (POST /api/filing/save), think, the other page, and so on.  Every
// reviewer session ("reviewer - SID CSRF") is a city clerk: list its
// hospitals waiting for review (GET /api/review/items?state=submitted),
// batch-approve the page (POST /api/review/act), think.
//
// Think time: uniform 5-15 s (mean 10 s) between two actions.  A clerk
// pastes a page of 50 figures prepared in a spreadsheet beforehand and
// looks them over before 暂存; typing them takes minutes, so 10 s is the
// fast end of real work and 2,000 such clerks load the platform 10 to 20
// times more than 2,000 real ones would: an upper bound for the rush.
// Each clerk starts at a random moment of the first 15 s, so the load
// ramps up instead of arriving as one burst (the burst is measured on its
// own, tools/bench).
//
// Figures count the actions that end after WARMUP seconds, until SECONDS;
// then every clerk stops.  Prints one JSON line: per action kind the
// count, rate, p50, p99, max (ms) and errors (any answer but 200, any
// connection error; each kind also lists its first few).
import http from 'node:http';
import fs from 'node:fs';

const [base, sessionsFile, catalogFile, project, secondsArg, warmupArg] = process.argv.slice(2);
if (!warmupArg) {
    console.error('usage: bench-rush.mjs BASE SESSIONS CATALOG PROJECT SECONDS WARMUP');
    process.exit(2);
}
const seconds = Number(secondsArg), warmup = Number(warmupArg);
const url = new URL(base);
const ids = fs.readFileSync(catalogFile, 'utf8').trim().split('\n').map(Number);
const sessions = fs.readFileSync(sessionsFile, 'utf8').trim().split('\n').map(l => l.split(' '));

const THINK_MIN = 5000, THINK_MAX = 15000, RAMP = 15000;
const t0 = Date.now();
const measureFrom = t0 + warmup * 1000, stopAt = t0 + seconds * 1000;
const stats = {};

function record(kind, ms, error) {
    const s = stats[kind] ??= { lat: [], errors: 0, examples: [] };
    if (Date.now() < measureFrom) return;
    if (error) {
        s.errors++;
        if (s.examples.length < 5) s.examples.push(error);
    } else {
        s.lat.push(ms);
    }
}

function request(agent, kind, method, path, session, body) {
    return new Promise(resolve => {
        const start = process.hrtime.bigint();
        const headers = { Cookie: `vbp_sid=${session[2]}` };
        if (body) {
            headers['Content-Type'] = 'application/json';
            headers['X-CSRF-Token'] = session[3];
            headers['Content-Length'] = Buffer.byteLength(body);
        }
        const req = http.request({ host: url.hostname, port: url.port, method, path, agent, headers,
                                   timeout: 120000 }, res => {
            const chunks = [];
            res.on('data', c => chunks.push(c));
            res.on('end', () => {
                const ms = Number(process.hrtime.bigint() - start) / 1e6;
                const text = Buffer.concat(chunks).toString();
                record(kind, ms, res.statusCode === 200 ? null : `${res.statusCode} ${text.slice(0, 200)}`);
                resolve(res.statusCode === 200 ? text : null);
            });
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', e => { record(kind, 0, `connection: ${e.message}`); resolve(null); });
        req.end(body);
    });
}

const sleep = ms => new Promise(r => setTimeout(r, ms));
const think = () => sleep(THINK_MIN + Math.random() * (THINK_MAX - THINK_MIN));

// the 50 lines of one page of a hospital's block, figures that differ by
// hospital and by save, in use (the IVD line's rules hold)
function saveBody(k, page, round) {
    const first = (k % 20) * 100 + page * 50;
    const lines = [];
    for (let j = 0; j < 50; j++) {
        const last = 10 + (k * 31 + (page * 50 + j) * 17) % 490;
        lines.push({ catalog_line_id: ids[first + j], last_year: last,
                     demand: last + ((k + j + round) % 21) - 10, in_use: true });
    }
    return JSON.stringify({ project: Number(project), lines });
}

async function clerk(session) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const k = Number(session[1]);
    await sleep(Math.random() * RAMP);
    for (let round = 0; Date.now() < stopAt; round++) {
        const page = round % 2;
        await request(agent, 'open', 'GET',
                      `/filing?project=${project}&per_page=50&page=${(k % 20) * 2 + page + 1}`, session);
        await think();
        if (Date.now() >= stopAt) break;
        await request(agent, 'save', 'POST', '/api/filing/save', session, saveBody(k, page, round));
        await think();
    }
    agent.destroy();
}

async function reviewer(session) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    await sleep(Math.random() * RAMP);
    while (Date.now() < stopAt) {
        const text = await request(agent, 'list', 'GET',
                                   `/api/review/items?project=${project}&state=submitted&per_page=20`, session);
        const items = text ? JSON.parse(text).items ?? [] : [];
        await think();
        if (Date.now() >= stopAt) break;
        if (items.length) {
            await request(agent, 'approve', 'POST', '/api/review/act', session,
                          JSON.stringify({ project: Number(project), action: 'approve',
                                           ids: items.map(i => i.id) }));
            await think();
        }
    }
    agent.destroy();
}

await Promise.all(sessions.map(s => s[0] === 'hospital' ? clerk(s) : reviewer(s)));

const window = (stopAt - measureFrom) / 1000;
const out = { seconds: window, clerks: sessions.filter(s => s[0] === 'hospital').length,
              reviewers: sessions.filter(s => s[0] !== 'hospital').length };
for (const [kind, s] of Object.entries(stats)) {
    const lat = s.lat.sort((a, b) => a - b);
    const at = q => lat.length ? lat[Math.min(lat.length - 1, Math.floor(q * lat.length))] : 0;
    out[kind] = { count: lat.length, rate: lat.length / window, p50: at(0.5), p99: at(0.99),
                  max: lat.length ? lat[lat.length - 1] : 0, errors: s.errors, examples: s.examples };
}
console.log(JSON.stringify(out));
