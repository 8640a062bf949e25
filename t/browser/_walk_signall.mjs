import { session, closeAll, shot, text } from './_walk_lib.mjs';
for (const u of process.argv.slice(2)) {
  const { context, page } = await session(u);
  console.log(u, page.url());
  await context.close();
}
await closeAll();
