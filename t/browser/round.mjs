// A whole reporting round as its clerks walk it (t/906-browser-round.t):
// a hospital files and is refused, mends, submits; its city returns it
// with a reason, takes another hospital out with a reason, approves and
// submits; the province reviews the city's detail and submits; the
// alliance returns the province; the province returns the city; the city
// returns the one hospital; back up again to the alliance's approval -- and
// an announcement read.  Every page on the way is checked with axe-core
// and shot at 1366 x 768 and at 390 px (where nothing may be wider than
// the screen), and each point of the round checks what the clerk sees.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { base, out, ok, launch, signIn } from './lib.mjs';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const project = process.env.VBP_PROJECT;
const password = process.env.VBP_PASSWORD;
mkdirSync(out, { recursive: true });
const pdf = out + '/round-letter.pdf';
writeFileSync(pdf, '%PDF-1.4\n% t906\n%%EOF\n');

const browser = await launch();
const errors = [];
const dialogs = [];
let current;

// a clerk: a desk (1366 x 768) and a phone (390 px), both signed in
async function as(user) {
  const desk = await browser.newContext({ bypassCSP: true, viewport: { width: 1366, height: 768 } });
  const page = await desk.newPage();
  page.on('pageerror', e => errors.push(user + ': ' + e.message));
  page.on('console', m => { if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) errors.push(user + ': ' + m.text()); });
  page.on('dialog', d => { dialogs.push(d.message()); d.accept().catch(() => {}); });
  await signIn(page, desk, user, password);
  ok(new URL(page.url()).pathname === '/', user + ' signs in');
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 1 });
  page.phone = await phone.newPage();
  await signIn(page.phone, phone, user, password);
  current = page;
  return page;
}

// the page as it stands: axe-core, a shot at the desk, the same page on
// the phone (a GET of its address) shot too, nothing wider than 390 px
async function look(page, name) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter(v => v.impact === 'serious' || v.impact === 'critical');
  ok(bad.length === 0, `${name}: axe finds no serious or critical violation` +
     bad.map(v => ` [${v.id}: ${v.nodes.map(n => n.target.join(' ')).slice(0, 3).join('; ')}]`).join(''));
  await page.screenshot({ path: `${out}/${name}.png`, fullPage: true });
  const url = page.url().replace(/&?done=1/, '');
  if (!/\/(filing|review|notices)\/(submit|withdraw|act|new)$/.test(new URL(url).pathname)) {
    await page.phone.goto(url);
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
async function line(page, serial, last, demand, inUse, note) {
  const r = row(page, serial);
  if (last !== undefined) await r.locator('input[name=last_year]').fill(String(last));
  if (demand !== undefined) await r.locator('input[name=demand]').fill(String(demand));
  if (inUse !== undefined) await r.locator('select[name=in_use]').selectOption(inUse);
  if (note !== undefined) await r.locator('input[name=change_note]').fill(note);
}

// a button whose action needs a reason, pressed with none: the page says
// so at the reason and asks nothing (check first, confirm after)
async function refusedWithoutReason(page, button, field, what) {
  const asked = dialogs.length;
  await page.fill(field, '');
  await page.click(button);
  await page.waitForTimeout(300);
  ok(dialogs.length === asked, `${what}: no confirmation asked before the reason is there`);
  ok((await page.locator(`${field}-needs`).textContent()).includes('原因'), `${what}: the reason is asked for at its field`);
}

try {
  // ---- the hospital files -------------------------------------------------
  let page = await as('H21010200011');
  ok((await text(page, '#deadlines')).includes('报量填报，截止'), 'the hospital\'s home page: its filing and the deadline');
  await look(page, 'round-hospital-home');

  await go(page, `/filing?project=${project}&per_page=10`);
  // at 1366 x 768 what is typed into is in view, beside what names the line
  const box = await page.locator('#lines').evaluate(t => t.closest('.table-box').getBoundingClientRect().right);
  for (const input of ['input[name=last_year]', 'input[name=demand]', 'select[name=in_use]', 'input[name=change_note]']) {
    const b = await row(page, 'R001').locator(input).boundingBox();
    ok(b && b.x + b.width <= Math.min(box, 1366), `at 1366 px ${input} is in view without scrolling sideways (${Math.round(b.x + b.width)} <= ${Math.round(box)})`);
  }
  ok(await page.locator('a#catalog-download').count() === 1, '目录下载 is on the filing page');
  const csv = await page.request.get(base + await page.getAttribute('a#catalog-download', 'href'));
  ok(csv.status() === 200 && csv.headers()['content-type'].startsWith('text/csv'), '... and downloads the catalog as CSV');

  // typed: the running totals and 超出阈值 follow before anything is saved
  await line(page, 'R001', 100, 200, '1');
  ok(await text(page, '#demand-total') === '200' && await row(page, 'R001').locator('.beyond-tag').isVisible(),
     'the running total and the line\'s 超出阈值 follow what is typed');
  await line(page, 'R002', 'abc', 5, '1');        // not a number
  await line(page, 'R003', 5, 5);                 // rule 1: no in-use choice
  await line(page, 'R004', 5, 5, '0');            // rule 2: last year > 0, in use no
  await line(page, 'R005', 0, 8, '1');            // rule 3 with R006
  await line(page, 'R006', 0, 8, '0');
  await click(page, '#save-draft');
  const err = async s => (await row(page, s).locator('.field-error').allTextContents()).join(' ');
  ok((await err('R002')).includes('整数') && (await err('R003')).includes('是否有在用仪器')
     && (await err('R004')).includes('不能为“否”') && (await err('R005')).includes('注册证')
     && (await err('R006')).includes('注册证'),
     'one 暂存 names every error of the page, each at its line (a value, rules 1, 2 and 3)');
  ok(await row(page, 'R002').locator('input[name=last_year]').inputValue() === 'abc', '... and keeps what was typed');
  ok(await page.locator('#line-errors li').count() >= 5
     && (await text(page, '#line-errors')).includes('R002'),
     '... listed above the table too, each naming its line');
  ok(await row(page, 'R004').evaluate(tr => tr.classList.contains('has-error')), '... the rows with errors marked');
  await look(page, 'round-filing-refused-save');

  await line(page, 'R002', 50, 5, '1');
  await line(page, 'R003', undefined, undefined, '1');
  await line(page, 'R004', undefined, undefined, '1');
  await line(page, 'R006', undefined, undefined, '1');
  await line(page, 'R007', 0, 10, '0');           // no instrument: a note per certificate
  await line(page, 'R008', 0, 10, '0');
  await click(page, '#save-draft');
  ok((await text(page, '#message')).includes('已暂存'), 'mended, the page is saved');
  await page.check('input[name=filled]');
  await click(page, '#search-go');
  ok(await page.locator('#lines tbody tr[data-serial]').count() === 8, '只看已填报: the eight lines filed');
  await page.check('input[name=beyond]');
  await click(page, '#search-go');
  const beyond = await page.locator('#lines tbody tr[data-serial]').count();
  ok(beyond >= 2 && beyond < 8, `只看超出阈值: the ${beyond} lines beyond the threshold`);
  await click(page, '#search-reset');
  ok(await page.locator('input[name=beyond]:checked').count() === 0, '重置 clears the filters');

  // a refused 提交: every piece at its place, the checklist says what is missing
  await go(page, `/filing?project=${project}&per_page=10`);
  await page.fill('#contact', '张三');
  await page.fill('#phone', '');
  await click(page, '#submit-filing');
  ok(await page.locator('#phone-error').count() === 1 && await page.locator('#commitment-error').count() === 1
     && await page.locator('#summary-error').count() === 1, 'a refused 提交 shows the phone and both files at their fields');
  ok((await page.locator('#note-certs tr[data-certificate] .field-error').count()) === 1,
     '... the certificate without an instrument at its row');
  ok((await page.locator('#note-lines .field-error').count()) >= 2
     && (await row(page, 'R001').locator('.field-error').allTextContents()).join('').includes('增降幅说明'),
     '... and every line wanting 增降幅说明, listed and at its input');
  ok(await page.locator('#checklist li[data-check=contact].done').count() === 1
     && await page.locator('#checklist li[data-check=phone].done').count() === 0,
     'the checklist ticks the contact, not the phone');
  await page.fill('#phone', '024-12345678');
  ok(await page.locator('#checklist li[data-check=phone].done').count() === 1, '... and ticks the phone as it is typed');
  await look(page, 'round-filing-refused-submit');

  // typed before an upload reloads the page: still there after it
  await page.fill('#contact', '张三');
  await page.fill('#phone', '024-12345678');
  await upload(page, '#upload-commitment');
  ok(await page.inputValue('#contact') === '张三' && await page.inputValue('#phone') === '024-12345678'
     && await page.locator('#checklist li[data-check=phone].done').count() === 1,
     '联系人 and 联系电话 typed before an upload are kept across its reload, and ticked');
  await upload(page, '#upload-summary');
  await upload(page, '#note-certs tr[data-certificate] input[type=file]');
  ok(await page.locator('#checklist li[data-check=commitment].done').count() === 1
     && await page.locator('#checklist li[data-check=in_use_note].done').count() === 1,
     'uploaded: the letter and the certificate\'s note are ticked');
  await go(page, `/filing?project=${project}&per_page=10`);
  for (const s of ['R001', 'R002', 'R004', 'R005', 'R006', 'R007', 'R008']) {
    if (await row(page, s).locator('.beyond-tag').isVisible()) await line(page, s, undefined, undefined, undefined, '科室扩容');
  }
  await click(page, '#save-draft');
  ok(await page.locator('#files .stale-file').count() === 0, 'explanations added: the summary sheet still holds (its figures did not change)');
  await page.fill('#contact', '张三');
  await page.fill('#phone', '024-12345678');
  await click(page, '#submit-filing');
  ok(await text(page, '#filing-state') === '已提交', 'the filing is submitted');
  ok(await page.locator('#save-draft').count() === 0 && await page.locator('#submit-form').count() === 0
     && await row(page, 'R001').locator('input:not([type=hidden])').count() === 0,
     'submitted, the page is read-only: no 暂存, no 提交, the values as text');
  ok((await text(page, '#submitted-contact')).includes('024-12345678'), '... with the contact it was submitted with');
  ok((await text(page, '#readonly-note')).includes('申请撤回') && await page.locator('#withdraw-form').count() === 1,
     '... and says what can still be done: 撤回申请');
  await look(page, 'round-filing-submitted');

  // ---- the city returns it with a reason, takes another out -------------------
  page = await as('sy_admin');
  ok((await text(page, '#deadlines')).includes('项待审核'), 'the city\'s home page: a submission waiting');
  await look(page, 'round-city-home');
  await go(page, `/review?project=${project}&state=submitted&per_page=10`);
  const listUrl = page.url();
  await click(page, 'tr[data-code="H21010200011"] a[href^="/review/item"]');
  ok(await page.locator('#approve').count() === 1 && await page.locator('#return').count() === 1
     && await page.locator('#revoke').count() === 0 && await page.locator('#grant-withdraw').count() === 0
     && await page.locator('#include').count() === 0,
     'the item page offers what the chain allows on 已提交: 审核通过, 退回修改, 取消上报 -- not 审核撤回, not the withdrawal answers');
  ok(!(await text(page, '#outliers')).startsWith('00'), '偏离同类 reads 0, not 00');
  await look(page, 'round-city-item');
  await refusedWithoutReason(page, '#return', '#reason', '退回修改');
  await page.fill('#reason', '第1行需求量与汇总表不一致');
  await click(page, '#return');
  ok(await text(page, '#item-state') === '审核不通过', 'returned with its reason');
  await click(page, '#back');
  ok(page.url().startsWith(listUrl), '返回列表 goes back to the list with its filters and page');

  await go(page, `/review?project=${project}`);
  await page.check('tr[data-code="H21010200022"] input[name=ids]');
  await refusedWithoutReason(page, '#batch-exempt', '#return-reason', '取消上报');
  await page.check('tr[data-code="H21010200022"] input[name=ids]');
  await page.fill('#return-reason', '本年度未开展该类检验项目');
  await click(page, '#batch-exempt');
  ok(await text(page, 'tr[data-code="H21010200022"] td.state') === '无需上报'
     && await page.locator('tr[data-code="H21010200022"] .row-include').count() === 1,
     '取消上报 with a reason; the exempted row offers 上报');
  await look(page, 'round-city-list');

  // ---- the hospital reads why, mends, submits again -----------------------------
  page = await as('H21010200011');
  ok((await text(page, '#deadlines')).includes('退回修改') && (await text(page, '#deadlines')).includes('第1行需求量与汇总表不一致'),
     'the hospital\'s home reminder says it was returned, and why');
  await go(page, `/filing?project=${project}&per_page=10`);
  ok((await text(page, '#last-reason')).includes('第1行需求量与汇总表不一致'), '... and the filing page says it at the top');
  await line(page, 'R001', 100, 120, '1', '');
  await click(page, '#save-draft');
  ok(await page.locator('#files .stale-file').count() === 1
     && await page.locator('#checklist li[data-check=summary].done').count() === 0,
     'the figures changed: the summary sheet signed before is marked, the checklist unticks it');
  await page.fill('#contact', '张三');
  await page.fill('#phone', '024-12345678');
  await click(page, '#submit-filing');
  ok((await text(page, '#summary-error')).includes('重新上传'), '... and 提交 asks for it again, at the sheet');
  await upload(page, '#upload-summary');
  await click(page, '#submit-filing');
  ok(await text(page, '#filing-state') === '已提交', 'submitted again');
  await look(page, 'round-filing-resubmitted');

  // ---- the city approves and submits -----------------------------------------------
  page = await as('sy_admin');
  await go(page, `/review?project=${project}`);
  await click(page, 'tr[data-code="H21010200011"] a[href^="/review/item"]');
  await click(page, '#approve');
  ok(await text(page, '#item-state') === '审核通过', 'the city approves the hospital');
  await go(page, `/review/confirm?project=${project}`);
  ok((await text(page, '#exempted')).includes('本年度未开展该类检验项目'), '需求量信息确认 lists the hospital taken out, with its reason');
  await look(page, 'round-city-confirm');
  await click(page, '#submit-up');
  ok(await text(page, '#own-state') === '已提交', 'the city submits; its own state says so');

  // ---- the province reads the city's detail and submits ------------------------------
  page = await as('ln_admin');
  await go(page, `/review/summary?project=${project}`);
  ok(await text(page, '#own-state') === '待提交', 'the province\'s page shows its own state');
  await click(page, 'tr[data-region="210100"] a[href^="/review/item"]');
  ok((await text(page, '#item-name')).includes('沈阳') && (await page.textContent('dl.filing-head')).includes('城市'),
     'a city\'s detail is the city\'s, labelled so');
  ok(await text(page, '#last-year-total') !== '' && await text(page, '#demand-total') !== '0'
     && await page.locator('#children tr[data-code="H21010200011"]').count() === 1,
     '... with its totals and its hospitals, each with its state');
  await look(page, 'round-province-city-detail');
  await go(page, `/review/summary?project=${project}`);
  await page.check('.check-all');
  await click(page, '#batch-approve');
  await upload(page, '#upload-province-summary');
  await click(page, '#submit-up');
  ok(await text(page, '#own-state') === '已提交' && (await page.locator('#own-files li').count()) === 1,
     'the province submits: its page shows 已提交 and the stamped file it sent');
  await look(page, 'round-province-submitted');

  // ---- the alliance returns the province -------------------------------------------------
  page = await as('lcb_admin');
  ok((await text(page, '#deadlines')).includes('联采办审核'), 'the alliance\'s home page: a province waiting');
  await go(page, `/review/summary?project=${project}`);
  await click(page, 'tr[data-region="210000"] a[href^="/review/item"]');
  ok((await page.textContent('dl.filing-head')).includes('省份') && await page.locator('#children tr[data-code="210100"]').count() === 1,
     'the alliance\'s detail of a province lists its cities');
  await look(page, 'round-alliance-province-detail');
  await go(page, `/review/summary?project=${project}`);
  await page.check('tr[data-region="210000"] input[name=ids]');
  await refusedWithoutReason(page, '#batch-return', '#return-reason', '退回修改（联采办）');
  await page.check('tr[data-region="210000"] input[name=ids]');
  await page.fill('#return-reason', '沈阳市数据需复核');
  await click(page, '#batch-return');
  ok(await text(page, 'tr[data-region="210000"] td.state') === '上级审核不通过', 'the alliance returns Liaoning');

  // ---- the province reads why, returns the city -------------------------------------------
  page = await as('ln_admin');
  ok((await text(page, '#deadlines')).includes('沈阳市数据需复核'), 'the province\'s home reminder says why it was returned');
  await go(page, `/review/summary?project=${project}`);
  ok((await text(page, '#last-reason')).includes('沈阳市数据需复核'), '... and its review page too');
  await look(page, 'round-province-returned');
  await page.check('tr[data-region="210100"] input[name=ids]');
  await page.fill('#return-reason', '请复核中国医科大学附属第一医院');
  await click(page, '#batch-return');

  // ---- the city reads why, returns the one hospital -------------------------------------------
  page = await as('sy_admin');
  ok((await text(page, '#deadlines')).includes('请复核中国医科大学附属第一医院'), 'the city\'s home reminder says why');
  await go(page, `/review?project=${project}`);
  ok((await text(page, '#own #last-reason')).includes('请复核中国医科大学附属第一医院'), '... and its review page too');
  await look(page, 'round-city-returned');
  await click(page, 'tr[data-code="H21010200011"] a[href^="/review/item"]');
  ok(await page.locator('#revoke').count() === 1 && await page.locator('#return').count() === 1,
     'with the city returned, the approved hospital can be revoked or returned');
  await page.fill('#reason', '按省级要求复核第1行');
  await click(page, '#return');

  page = await as('H21010200011');
  await go(page, `/filing?project=${project}&per_page=10`);
  ok((await text(page, '#last-reason')).includes('按省级要求复核第1行'), 'the hospital reads the city\'s reason');
  await line(page, 'R001', 100, 110, '1');
  await click(page, '#save-draft');
  await upload(page, '#upload-summary');
  await page.fill('#contact', '张三');
  await page.fill('#phone', '024-12345678');
  await click(page, '#submit-filing');
  ok(await text(page, '#filing-state') === '已提交', '... mends and submits');

  page = await as('sy_admin');
  await go(page, `/review?project=${project}`);
  // 全选 over a row the action does not apply to: named, the rest go on
  await page.check('.check-all');
  const asked = dialogs.length;
  await click(page, '#batch-approve');
  ok(dialogs.slice(asked).some(d => d.includes('当前不能批量审核通过') && /无需上报/.test(d)),
     '全选 with an exempt row: the confirmation names it and goes on over the others');
  ok(await text(page, 'tr[data-code="H21010200011"] td.state') === '审核通过', '... the hospital approved');
  await go(page, `/review/confirm?project=${project}`);
  await click(page, '#submit-up');
  ok(await text(page, '#own-state') === '已提交', 'the city submits again');

  page = await as('ln_admin');
  await go(page, `/review/summary?project=${project}`);
  ok(await page.locator('#own-files .stale-file').count() === 1,
     'the province\'s stamped summary predates the hospital\'s correction: asked for again');
  await page.check('tr[data-region="210100"] input[name=ids]');
  await click(page, '#batch-approve');
  await upload(page, '#upload-province-summary');
  await click(page, '#submit-up');
  ok(await text(page, '#own-state') === '已提交', 'the province submits again');

  page = await as('lcb_admin');
  await go(page, `/review/summary?project=${project}`);
  await page.check('tr[data-region="210000"] input[name=ids]');
  await click(page, '#batch-approve');
  ok(await text(page, 'tr[data-region="210000"] td.state') === '审核通过', 'the alliance approves Liaoning');
  await look(page, 'round-national');

  // ---- an announcement, published, read, and who has read it ------------------------------------
  page = await as('ln_admin');
  await go(page, '/notices/new');
  await page.check('#audience input[value=hospital]');
  await page.fill('#body', '请各医疗机构按时完成报量填报。');
  await click(page, '#save-notice');
  ok(await page.locator('#title-error').count() === 1 && (await page.inputValue('#body')).includes('按时完成')
     && await page.locator('#audience input[value=hospital]:checked').count() === 1,
     'a notice without a title is refused at the title, the form keeps what was sent');
  await page.fill('#title', 't906 关于按时完成报量的通知');
  await click(page, '#save-draft');
  ok(new URL(page.url()).pathname === '/notices/edit' && await page.locator('#draft-note').count() === 1,
     'kept as a draft, on to its page to attach files');
  await upload(page, '#upload-notice-file');
  ok(await page.locator('#notice-files li').count() === 1, '... a PDF attached');
  await look(page, 'round-notice-edit');
  const draftPage = await as('H21010200011');
  ok(!(await draftPage.textContent('#notices')).includes('t906 关于按时完成报量的通知'), '... which no hospital sees yet');
  page = await as('ln_admin');
  await go(page, '/notices/manage');
  await click(page, '#mine tr:has-text("t906 关于按时完成报量的通知") a:has-text("编辑")');
  await click(page, '#save-notice');
  ok(await page.locator('#draft-note').count() === 0, 'published with its attachment');
  page = await as('H21010200011');
  ok((await page.textContent('#notices')).includes('t906 关于按时完成报量的通知') && (await page.locator('#notices li.unread').count()) >= 1,
     'the hospital\'s home page lists it, unread');
  await click(page, '#notices a:has-text("t906 关于按时完成报量的通知")');
  ok((await text(page, '#notice-body')).includes('按时完成') && await page.locator('#notice-files li').count() === 1,
     '... it reads it with its attachment');
  await look(page, 'round-notice-view');
  page = await as('ln_admin');
  await go(page, '/notices/manage');
  ok((await page.textContent('#mine')).includes('已读 1'), 'the province sees one org has read it');
  await click(page, '#mine a[href^="/notices/readers"]');
  await page.selectOption('select[name=read]', 'read');
  await click(page, '#search-go');
  ok(await page.locator('#readers tr[data-code="H21010200011"]').count() === 1, '... and which');
  await look(page, 'round-notice-readers');

  ok(errors.length === 0, 'no script error on any page ' + errors.join('; '));
} catch (e) {
  if (current) await current.screenshot({ path: out + '/round-failure.png', fullPage: true }).catch(() => {});
  throw e;
} finally {
  await browser.close();
}
