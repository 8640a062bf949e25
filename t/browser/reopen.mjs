// A return after the windows below have closed (t/907-browser-reopen.t),
// seed 000 3.4.5: the filing and city windows are past, the province
// returns Shenyang; the city, its own time past, returns the one hospital;
// the hospital, its window past, mends its filing -- the page says until
// when -- signs its summary sheet again, submits; the city approves it
// with 全选 over rows the action does not apply to, submits; the province
// signs its summary again and submits.  Before the return the hospital's
// page says exactly why it is read-only.  axe-core and shots at 1366 x 768
// and 390 px of each page on the way.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { base, out, ok, launch, signIn } from './lib.mjs';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const project = process.env.VBP_PROJECT;
const password = process.env.VBP_PASSWORD;
mkdirSync(out, { recursive: true });
const pdf = out + '/reopen-sheet.pdf';
writeFileSync(pdf, '%PDF-1.4\n% t907\n%%EOF\n');

const browser = await launch();
const errors = [];
const dialogs = [];
let current;

async function as(user) {
  const desk = await browser.newContext({ viewport: { width: 1366, height: 768 } });
  const page = await desk.newPage();
  page.on('pageerror', e => errors.push(user + ': ' + e.message));
  page.on('console', m => { if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) errors.push(user + ': ' + m.text()); });
  page.on('dialog', d => { dialogs.push(d.message()); d.accept().catch(() => {}); });
  await signIn(page, desk, user, password);
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 } });
  page.phone = await phone.newPage();
  await signIn(page.phone, phone, user, password);
  current = page;
  return page;
}

async function look(page, name) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter(v => v.impact === 'serious' || v.impact === 'critical');
  ok(bad.length === 0, `${name}: axe finds no serious or critical violation` +
     bad.map(v => ` [${v.id}: ${v.nodes.map(n => n.target.join(' ')).slice(0, 3).join('; ')}]`).join(''));
  await page.screenshot({ path: `${out}/${name}.png`, fullPage: true });
  if (!/\/(filing|review)\/(submit|act)$/.test(new URL(page.url()).pathname)) {
    await page.phone.goto(page.url());
    const wide = await page.phone.evaluate(() => document.documentElement.scrollWidth);
    ok(wide <= 390, `${name} at 390 px: nothing wider than the screen (${wide})`);
    await page.phone.screenshot({ path: `${out}/${name}-390.png`, fullPage: true });
  }
}

async function go(page, path) {
  const r = await page.goto(base + path);
  ok(r.status() === 200, `${path}: 200`);
}
async function click(page, selector) {
  await Promise.all([page.waitForNavigation(), page.click(selector)]);
}
async function upload(page, selector) {
  await Promise.all([page.waitForNavigation(), page.setInputFiles(selector, pdf)]);
}
const text = async (page, sel) => (await page.textContent(sel)).trim();
const row = (page, serial) => page.locator(`tr[data-serial="${serial}"]`);

try {
  // ---- before: read-only, and why ------------------------------------------
  let page = await as('H21010200011');
  await go(page, `/filing?project=${project}`);
  ok(/医疗机构填报时间为 .* 至 .*，已于 .* 截止/.test(await text(page, '#readonly-note')),
     'approved, its window past: the page says the filing window closed, and when');
  await look(page, 'reopen-hospital-closed');

  // ---- the province returns Shenyang ------------------------------------------
  page = await as('ln_admin');
  await go(page, `/review/summary?project=${project}`);
  await page.check('tr[data-region="210100"] input[name=ids]');
  await page.fill('#return-reason', '沈阳请复核第1行');
  await click(page, '#batch-return');
  ok((await text(page, 'tr[data-region="210100"] td.state')).includes('不通过'), 'the province returns Shenyang in its own window');
  // a city's hospitals seen from the province: its name, nothing to tick
  await go(page, `/review?project=${project}&region=210100`);
  ok((await text(page, 'h1')).includes('沈阳市') && await page.locator('#batch-approve').count() === 0
     && await page.locator('input[name=ids]').count() === 0,
     'the province on Shenyang\'s hospitals: the heading names the city, no batch to offer');
  await look(page, 'reopen-province-city-hospitals');

  // ---- the city, its time past, returns the one hospital -----------------------
  page = await as('sy_admin');
  ok((await text(page, '#deadlines')).includes('沈阳请复核第1行'), 'the city\'s reminder says why it was returned');
  await go(page, `/review?project=${project}`);
  await page.click('tr[data-code="H21010200011"] a[href^="/review/item"]');
  await page.waitForLoadState('load');
  ok(await page.locator('#return').count() === 1, 'its own window past, the returned city may still return the hospital');
  await page.fill('#reason', '按省级要求复核第1行');
  await click(page, '#return');
  ok(await text(page, '#item-state') === '审核不通过', 'returned');

  // ---- the hospital mends in time reopened -----------------------------------
  page = await as('H21010200011');
  ok((await text(page, '#deadlines')).includes('按省级要求复核第1行'), 'the hospital\'s reminder: returned, with the reason');
  await go(page, `/filing?project=${project}&per_page=10`);
  ok((await text(page, '#open-until')).startsWith('退回后可修改至'), 'its filing page says until when it may mend');
  ok(await page.locator('#save-draft').count() === 1, '... and may: 暂存 is offered');
  await row(page, 'S001').locator('input[name=demand]').fill('105');
  await click(page, '#save-draft');
  ok(await page.locator('#files .stale-file').count() === 1, 'the summary sheet signed before the change is marked');
  await page.fill('#contact', '李四');
  await page.fill('#phone', '024-87654321');
  await click(page, '#submit-filing');
  ok((await text(page, '#summary-error')).includes('重新上传'), '提交 asks for the sheet again, at the sheet');
  await look(page, 'reopen-hospital-stale');
  await upload(page, '#upload-summary');
  ok(await page.inputValue('#phone') === '024-87654321', 'the phone typed before the upload is still there');
  await click(page, '#submit-filing');
  ok(await text(page, '#filing-state') === '已提交', 'submitted after its window, in the time the return gave');
  await look(page, 'reopen-hospital-submitted');

  // ---- the city approves with 全选 and submits -----------------------------------
  page = await as('sy_admin');
  await go(page, `/review?project=${project}`);
  await page.check('.check-all');
  const asked = dialogs.length;
  await click(page, '#batch-approve');
  ok(dialogs.slice(asked).some(d => d.includes('当前不能批量审核通过')),
     '全选 over rows 审核通过 does not apply to: named before sending, the rest approved');
  ok(await text(page, 'tr[data-code="H21010200011"] td.state') === '审核通过', '... the hospital approved');
  await look(page, 'reopen-city-list');
  await go(page, `/review/confirm?project=${project}`);
  await click(page, '#submit-up');
  ok(await text(page, '#own-state') === '已提交', 'the city submits again, its window past');

  // ---- the province signs its summary again ----------------------------------------
  page = await as('ln_admin');
  await go(page, `/review/summary?project=${project}`);
  ok(await page.locator('#own-files .stale-file').count() === 1, 'the province\'s stamped summary predates the change: marked');
  await page.check('.check-all');
  await click(page, '#batch-approve');
  ok((await text(page, '#stamp-hint')).includes('下级数据已有修改'), '... and asked for again before 上报');
  await look(page, 'reopen-province-stale');
  await upload(page, '#upload-province-summary');
  await click(page, '#submit-up');
  ok(await text(page, '#own-state') === '已提交', 'the province submits');

  ok(errors.length === 0, 'no script error on any page ' + errors.join('; '));
} catch (e) {
  if (current) await current.screenshot({ path: out + '/reopen-failure.png', fullPage: true }).catch(() => {});
  throw e;
} finally {
  await browser.close();
}
