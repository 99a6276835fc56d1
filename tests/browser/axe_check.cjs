// Runs axe-core on each HTML file in headless Chromium, at a desktop and a phone width,
// and prints the violations as one JSON array. Usage:
//   node axe_check.cjs TOOLS_DIR CHROMIUM FILE.html...
const path = require("node:path");
const { launch } = require("./chromium.cjs");
const fs = require("node:fs");

async function main() {
  const [tools, chromiumPath, ...files] = process.argv.slice(2);
  const toolsDir = path.resolve(tools);
  const axeSource = fs.readFileSync(
    path.join(toolsDir, "node_modules", "axe-core", "axe.min.js"), "utf8");
  const browser = await launch(tools, chromiumPath);
  const violations = [];
  try {
    for (const width of [1280, 390]) {
      const context = await browser.newContext({ viewport: { width, height: 900 } });
      const page = await context.newPage();
      for (const file of files) {
        await page.goto("file://" + path.resolve(file));
        await page.addScriptTag({ content: axeSource });
        const result = await page.evaluate(() => axe.run(document, { resultTypes: ["violations"] }));
        for (const v of result.violations) {
          violations.push({
            file, width, id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")),
          });
        }
      }
      await context.close();
    }
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(violations) + "\n");
}

main().catch((error) => { console.error(error); process.exit(2); });
