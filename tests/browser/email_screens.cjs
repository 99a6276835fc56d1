// Renders each email HTML file in headless Chromium in the light and the dark colour scheme,
// saves a full-page PNG of each (OUT_DIR/<name>-<scheme>.png) and prints, as one JSON array,
// the computed colours of the card, so a test can tell that dark mode really is dark; then
// each at a phone's 390 px (OUT_DIR/<name>-phone.png) with the width the page scrolls to.
// Usage: node email_screens.cjs TOOLS_DIR CHROMIUM OUT_DIR FILE.html...
const path = require("node:path");
const { launch } = require("./chromium.cjs");

async function main() {
  const [tools, chromiumPath, outDir, ...files] = process.argv.slice(2);
  const browser = await launch(tools, chromiumPath);
  const shots = [];
  const requests = [];
  const phone = [];
  try {
    for (const colorScheme of ["light", "dark"]) {
      const context = await browser.newContext({ viewport: { width: 700, height: 600 }, colorScheme });
      const page = await context.newPage();
      page.on("request", (r) => { if (!r.url().startsWith("file:")) requests.push(r.url()); });
      for (const file of files) {
        await page.goto("file://" + path.resolve(file));
        const png = path.join(outDir, `${path.basename(file, ".html")}-${colorScheme}.png`);
        await page.screenshot({ path: png, fullPage: true });
        const colours = await page.evaluate(() => {
          const card = getComputedStyle(document.querySelector(".e-card"));
          const heading = getComputedStyle(document.querySelector("h1"));
          const link = document.querySelector(".e-notice a");
          const linkStyle = link && getComputedStyle(link);
          return {
            background: card.backgroundColor, text: heading.color,
            link: linkStyle ? [linkStyle.color, linkStyle.backgroundColor] : null,
          };
        });
        shots.push({ file, colorScheme, png, ...colours });
      }
      await context.close();
    }
    // A phone: most email is read on one. How wide does each message scroll at 390 px?
    const context = await browser.newContext({ viewport: { width: 390, height: 800 } });
    const page = await context.newPage();
    for (const file of files) {
      await page.goto("file://" + path.resolve(file));
      const png = path.join(outDir, `${path.basename(file, ".html")}-phone.png`);
      await page.screenshot({ path: png, fullPage: true });
      const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
      phone.push({ file, png, scrollWidth });
    }
    await context.close();
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify({ shots, requests, phone }) + "\n");
}

main().catch((error) => { console.error(error); process.exit(2); });
