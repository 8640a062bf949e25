// Browser journey of sub-accounts (seed 001 §2.2.2): a hospital's main
// account creates a sub-account, grants it one permission; the sub-account
// signs in, changes its one-time password, sees only that menu entry; the
// main account disables it and it is signed out at once.
import { mkdirSync } from 'node:fs';
import { base, out, ok, launch, signIn, changePassword, menu } from './lib.mjs';

const main = process.env.VBP_USER;
const sub = process.env.VBP_SUB;
mkdirSync(out, { recursive: true });

const browser = await launch();

try {
  const mainContext = await browser.newContext();
  const page = await mainContext.newPage();

  await signIn(page, mainContext, main, 'Demo@Pass1234');
  ok(new URL(page.url()).pathname === '/', 'the main account is on its home page');
  ok((await menu(page)).includes('子用户管理'), 'its menu has 子用户管理');

  await Promise.all([page.waitForNavigation(), page.click('text=子用户管理')]);
  await Promise.all([page.waitForNavigation(), page.click('#new-subuser')]);
  await page.fill('#username', sub);
  await page.fill('#display_name', '子账户甲');
  await Promise.all([page.waitForNavigation(), page.click('#create')]);
  const oneTime = (await page.textContent('#one-time-password')).trim();
  ok(/^[A-Za-z2-9]{12}$/.test(oneTime), 'the sub-account is created; its one-time password is shown once');

  await Promise.all([page.waitForNavigation(), page.click('#grant-new')]);
  const leaves = await page.$$eval('input[name=permissions]', l => l.map(i => i.value));
  ok(leaves.includes('account.subusers') && leaves.includes('org.view'), 'the permission tree unfolds into leaves');
  await page.check('input[name=permissions][value="account.subusers"]');
  await Promise.all([page.waitForNavigation(), page.click('#save-grants')]);
  ok((await page.textContent('#message')).includes('权限已保存'), 'one permission granted');

  const subContext = await browser.newContext();
  const subPage = await subContext.newPage();
  await signIn(subPage, subContext, sub, oneTime);
  ok(subPage.url().endsWith('/password'), 'the sub-account must change its one-time password');
  await changePassword(subPage, subContext, sub, oneTime, 'SubUser@Pass2026');
  ok(new URL(subPage.url()).pathname === '/', 'the sub-account is on its home page');
  const entries = await menu(subPage);
  ok(JSON.stringify(entries) === JSON.stringify(['首页', '子用户管理', '公告通知', '密码修改']),
     'it sees only the granted entry (besides home and its own password): ' + entries.join(' '));

  await page.goto(base + '/subusers');
  let asked = '';
  page.once('dialog', d => { asked = d.message(); d.accept(); });
  await page.check(`tr[data-username="${sub}"] input[name=ids]`);
  await Promise.all([page.waitForNavigation(), page.click('#batch-disable')]);
  ok(asked.includes('停用选中的 1 个账户'), 'the batch asks first, naming how many: ' + asked);
  ok(new URL(page.url()).pathname === '/subusers', 'back on the list after disabling');
  ok((await page.textContent('#message')).includes('已停用 1 个账户'), 'it says what changed');
  ok((await page.textContent(`tr[data-username="${sub}"]`)).includes('停用'), 'the sub-account shows as disabled');
  await page.screenshot({ path: out + '/subusers.png', fullPage: true });
  console.log('ok - screenshot saved to ' + out + '/subusers.png');

  await subPage.goto(base + '/');
  ok(new URL(subPage.url()).pathname === '/login', 'the disabled sub-account is signed out at once');
} catch (e) {
  if (!process.exitCode) { console.log('not ok - ' + e.message); process.exitCode = 1; }
} finally {
  await browser.close();
}
