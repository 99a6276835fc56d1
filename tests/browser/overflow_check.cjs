// Measures each HTML file in headless Chromium at a desktop and a phone width: how wide the
// document scrolls, and which standing badges are clipped (wider content than box). Prints
// one JSON array of {file, width, scrollWidth, clipped: [text...]}. Usage:
//   node overflow_check.cjs TOOLS_DIR CHROMIUM FILE.html...
// With SCORECARD_SCREENSHOTS=DIR set, also saves a full-page PNG of each file at each width.
const path = require("node:path");
const { launch } = require("./chromium.cjs");

async function main() {
  const [tools, chromiumPath, ...files] = process.argv.slice(2);
  const shots = process.env.SCORECARD_SCREENSHOTS;
  const browser = await launch(tools, chromiumPath);
  const results = [];
  try {
    for (const width of [1280, 390]) {
      const context = await browser.newContext({ viewport: { width, height: 900 } });
      const page = await context.newPage();
      for (const file of files) {
        await page.goto("file://" + path.resolve(file));
        const measured = await page.evaluate(() => ({
          scrollWidth: document.documentElement.scrollWidth,
          clipped: [...document.querySelectorAll(".badge")]
            .filter((b) => b.scrollWidth > b.clientWidth || b.scrollHeight > b.clientHeight + 1
              || (() => {
                // Clipped by, or running over, its cell: the badge's box outside the cell's.
                const cell = b.closest("td, th");
                if (!cell) return false;
                const r = b.getBoundingClientRect(), c = cell.getBoundingClientRect();
                return r.left < c.left - 0.5 || r.right > c.right + 0.5;
              })())
            .map((b) => b.textContent.trim()),
        }));
        results.push({ file, width, ...measured });
        if (shots) {
          const name = path.relative(process.cwd(), path.resolve(file)).replace(/[\/\\]/g, "_");
          await page.screenshot({ path: path.join(shots, `${width}-${name}.png`), fullPage: true });
        }
      }
      await context.close();
    }
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(results) + "\n");
}

main().catch((error) => { console.error(error); process.exit(2); });
