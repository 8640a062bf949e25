// Browser journey of sign-in locks (issue 8): a clerk mistypes its
// password and the page says how many attempts are left; the fifth failure
// locks that browser out; its city's manager finds the account under
// 已锁定 and lifts the lock (解锁); the clerk signs in.  Then a weaker
// sub-account of the city sees its stronger sibling without the means to
// act on it.
import { mkdirSync } from 'node:fs';
import { base, out, ok, launch, signIn, fillSignIn } from './lib.mjs';

const clerk = process.env.VBP_USER;
const manager = process.env.VBP_MANAGER;
const weak = process.env.VBP_WEAK;
const strong = process.env.VBP_STRONG;
mkdirSync(out, { recursive: true });

const browser = await launch();

try {
  const clerkContext = await browser.newContext();
  const page = await clerkContext.newPage();
  await page.goto(base + '/login');

  for (let i = 1; i <= 4; i++) {
    await fillSignIn(page, clerkContext, clerk, 'Wrong@Pass' + i + i + i);
    const error = (await page.textContent('#error')).trim();
    ok(error.includes('还可尝试 ' + (5 - i) + ' 次'), 'failure ' + i + ': the page says ' + error);
    ok(await page.inputValue('#username') === clerk, '... and keeps the username typed');
  }
  await fillSignIn(page, clerkContext, clerk, 'Wrong@Pass555');
  ok((await page.textContent('#error')).includes('已锁定'), 'the fifth failure locks this browser out');
  await page.screenshot({ path: out + '/login-locked.png', fullPage: true });
  console.log('ok - screenshot saved to ' + out + '/login-locked.png');

  await fillSignIn(page, clerkContext, clerk, 'Demo@Pass1234');
  ok((await page.textContent('#error')).includes('锁定'), 'even the right password is refused while locked');

  const managerContext = await browser.newContext();
  const admin = await managerContext.newPage();
  await signIn(admin, managerContext, manager, 'Demo@Pass1234');
  await admin.goto(base + '/users');
  await admin.selectOption('select[name=status]', 'locked');
  await Promise.all([admin.waitForNavigation(), admin.click('#search-go')]);
  const row = `tr[data-username="${clerk}"]`;
  ok((await admin.textContent(row)).includes('已锁定'), 'the manager finds the account under 已锁定');
  await admin.screenshot({ path: out + '/users-locked.png', fullPage: true });
  console.log('ok - screenshot saved to ' + out + '/users-locked.png');
  await Promise.all([admin.waitForNavigation(), admin.click(row + ' button.unlock')]);
  ok(new URL(admin.url()).pathname === '/users', 'after 解锁 the manager is back on the list');
  ok(await admin.$(row) === null, '... where the account is no longer locked');

  await signIn(page, clerkContext, clerk, 'Demo@Pass1234');
  ok(new URL(page.url()).pathname === '/', 'the clerk signs in');

  const weakContext = await browser.newContext();
  const weakPage = await weakContext.newPage();
  await signIn(weakPage, weakContext, weak, 'Demo@Pass1234');
  await weakPage.goto(base + '/subusers');
  const strongRow = `tr[data-username="${strong}"]`;
  ok((await weakPage.textContent(strongRow)).includes('权限超出，不能操作'),
     'a weaker sub-account sees its stronger sibling marked out of its reach');
  ok(await weakPage.$(strongRow + ' button.reset') === null
     && await weakPage.$(strongRow + ' input[name=ids]') === null,
     '... with no reset, edit or batch box on it');
  await weakPage.screenshot({ path: out + '/subusers-weak.png', fullPage: true });
  console.log('ok - screenshot saved to ' + out + '/subusers-weak.png');
} catch (e) {
  if (!process.exitCode) { console.log('not ok - ' + e.message); process.exitCode = 1; }
} finally {
  await browser.close();
}
