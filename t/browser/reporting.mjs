// The reporting journey through four levels (t/904-browser-reporting.t).
import { mkdirSync, writeFileSync } from 'node:fs';
import { base, out, ok, launch, signIn } from './lib.mjs';

const project = process.env.VBP_PROJECT;
const password = process.env.VBP_PASSWORD;
mkdirSync(out, { recursive: true });
const pdf = out + '/reporting-letter.pdf';
writeFileSync(pdf, '%PDF-1.4\n% t904\n%%EOF\n');

const browser = await launch();
const errors = [];
let current;
const dialogs = [];
let cancelNext = false;

async function as(user) {
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  const page = await context.newPage();
  page.on('pageerror', e => errors.push(user + ': ' + e.message));
  // every confirmation (submit, batch, leaving a changed form) is
  // accepted, but the one the journey chooses to cancel
  page.on('dialog', d => {
    dialogs.push(d.message());
    (cancelNext ? d.dismiss() : d.accept()).catch(() => {});
    cancelNext = false;
  });
  await signIn(page, context, user, password);
  ok(new URL(page.url()).pathname === '/', user + ' signs in');
  current = page;
  return page;
}

async function submitAndWait(page, selector) {
  await Promise.all([page.waitForNavigation(), page.click(selector)]);
}

async function upload(page, selector) {
  await Promise.all([page.waitForNavigation(), page.setInputFiles(selector, pdf)]);
}

try {
  // --- the hospital: two pages of ten, one refused save, files, submit
  let page = await as('H21010200011');
  await Promise.all([page.waitForNavigation(), page.click('nav.menu a[href="/projects"]')]);
  await Promise.all([page.waitForNavigation(), page.click(`tr[data-project="${project}"] .go-filing`)]);
  ok((await page.textContent('#filing-state')).trim() === '未填报', 'the filing page: 未填报');
  await page.selectOption('select[name=per_page][form=search]', '10');
  await page.waitForURL(/per_page=10/);
  for (let n = 1; n <= 10; n++) {
    const row = page.locator(`tr[data-serial="B${String(n).padStart(3, '0')}"]`);
    await row.locator('input[name=last_year]').fill('10');
    await row.locator('input[name=demand]').fill(n === 3 ? '-5' : '10');
    await row.locator('select[name=in_use]').selectOption('1');
  }
  await submitAndWait(page, '#save-draft');
  ok((await page.textContent('tr[data-serial="B003"] .field-error')).includes('负数'),
     'a negative demand is refused at its line');
  ok(await page.inputValue('tr[data-serial="B003"] input[name=demand]') === '-5'
     && await page.inputValue('tr[data-serial="B002"] input[name=demand]') === '10',
     '... and the page keeps every value typed');
  await page.screenshot({ path: out + '/filing-refused.png', fullPage: true });
  await page.fill('tr[data-serial="B003"] input[name=demand]', '10');
  await submitAndWait(page, '#save-draft');
  ok((await page.textContent('#message')).includes('已暂存'), 'page 1 is saved: 已暂存');
  ok((await page.textContent('#demand-total')).trim() === '100', '... and the running total is 100');
  await Promise.all([page.waitForNavigation(), page.click('.pager button[aria-label="第 2 页"]')]);
  for (const s of ['B011', 'B012']) {
    const row = page.locator(`tr[data-serial="${s}"]`);
    await row.locator('input[name=last_year]').fill('10');
    await row.locator('input[name=demand]').fill('10');
    await row.locator('select[name=in_use]').selectOption('1');
  }
  // paging away with typed, unsaved lines asks first; 取消 stays
  const asked = dialogs.length, page2 = page.url();
  cancelNext = true;
  await page.click('.pager button[aria-label="第 1 页"]');
  await page.waitForTimeout(500);
  ok(dialogs.length === asked + 1 && (dialogs[asked] || '').includes('尚未暂存'),
     'leaving page 2 with unsaved lines asks first: ' + dialogs[asked]);
  ok(page.url() === page2 && await page.inputValue('tr[data-serial="B011"] input[name=demand]') === '10',
     '... and 取消 keeps the page with what was typed');
  await submitAndWait(page, '#save-draft');
  ok((await page.textContent('#demand-total')).trim() === '120', 'page 2 is saved: the total is 120');

  await page.fill('#contact', '张三');
  await page.fill('#phone', '024-12345678');
  await submitAndWait(page, '#submit-filing');
  ok((await page.textContent('#commitment-error')).includes('承诺书'), 'a submit without files names the missing letter');
  ok(await page.inputValue('#contact') === '张三', '... and keeps the contact typed');
  await upload(page, '#upload-commitment');
  await upload(page, '#upload-summary');
  ok((await page.locator('#files li').count()) === 2, 'the letter and the summary sheet are uploaded');
  await page.fill('#contact', '张三');
  await page.fill('#phone', '024-12345678');
  await page.screenshot({ path: out + '/filing.png', fullPage: true });
  await submitAndWait(page, '#submit-filing');
  ok((await page.textContent('#filing-state')).trim() === '已提交', 'the filing is submitted');
  ok((await page.locator('#events tbody tr').count()) >= 2, 'its history shows the events');

  // --- the city: batch approve, then submit to the province
  page = await as('sy_admin');
  await page.goto(base + '/review?project=' + project);
  await page.check('tr[data-code="H21010200011"] input[name=ids]');
  ok((await page.textContent('.selected-count')).trim() === '1', 'the city ticks the hospital');
  await submitAndWait(page, '#batch-approve');
  ok((await page.textContent('tr[data-code="H21010200011"] td.state')).trim() === '审核通过', 'approved in a batch');
  ok((await page.locator('tr[data-code="H21010200011"] input[name=ids]').count()) === 0,
     '... and an approved row cannot be ticked again');
  await page.screenshot({ path: out + '/city-review.png', fullPage: true });
  await Promise.all([page.waitForNavigation(), page.click('#go-progress')]);
  ok((await page.textContent('tr[data-region="210100"] td.rate')).trim() === '100.0%',
     'the city\'s filing progress: its one hospital has submitted');
  await page.screenshot({ path: out + '/city-progress.png', fullPage: true });
  await page.goto(base + '/review?project=' + project);
  await Promise.all([page.waitForNavigation(), page.click('#go-confirm')]);
  ok((await page.textContent('#demand-total')).trim() === '120'
     && (await page.locator('#hospitals tr[data-code="H21010200011"]').count()) === 1
     && (await page.textContent('#blocking')).trim() === '0',
     '需求量信息确认: the approved hospital and its total, nobody blocking');
  await page.screenshot({ path: out + '/city-confirm.png', fullPage: true });
  await submitAndWait(page, '#submit-up');
  ok((await page.locator('#message').count()) === 1 && (await page.locator('p.error').count()) === 0, 'the city submits to the province');
  await page.goto(base + '/review/confirm?project=' + project);
  ok((await page.textContent('#own-state')).trim() === '已提交', '... and its confirmation page says 已提交');

  // --- the province: its stamped summary, approve the cities, submit
  page = await as('ln_admin');
  await page.goto(base + '/review/summary?project=' + project);
  await upload(page, '#upload-province-summary');
  await page.check('.check-all');
  await submitAndWait(page, '#batch-approve');
  ok((await page.textContent('tr[data-region="210100"] td.state')).trim() === '审核通过', 'the province approves its cities');
  ok((await page.textContent('tr[data-region="210100"] td:nth-child(9)')).trim() === '120',
     '... Shenyang\'s demand total is the hospital\'s');
  await page.screenshot({ path: out + '/province-summary.png', fullPage: true });
  await Promise.all([page.waitForNavigation(), page.click('#go-progress')]);
  ok((await page.textContent('#must-report')).trim() === '1' && (await page.textContent('#filed')).includes('100.0%'),
     'the province\'s filing progress: 1 hospital must report, all submitted');
  await page.screenshot({ path: out + '/filing-progress.png', fullPage: true });
  await page.goto(base + '/review/summary?project=' + project);
  await submitAndWait(page, '#submit-up');
  ok((await page.textContent('#message')).includes('已提交') && !(await page.locator('#error').count()),
     'the province submits to the alliance');

  // --- the alliance
  page = await as('lcb_admin');
  await page.goto(base + '/review/summary?project=' + project);
  await page.check('tr[data-region="210000"] input[name=ids]');
  await submitAndWait(page, '#batch-approve');
  ok((await page.textContent('tr[data-region="210000"] td.state')).trim() === '审核通过', 'the alliance approves the province');
  await page.screenshot({ path: out + '/national-summary.png', fullPage: true });

  ok(errors.length === 0, 'no script error on any page ' + errors.join('; '));
} catch (e) {
  // what the page showed when a step broke, for whoever reads the log
  if (current) await current.screenshot({ path: out + '/reporting-failure.png', fullPage: true }).catch(() => {});
  throw e;
} finally {
  await browser.close();
}
