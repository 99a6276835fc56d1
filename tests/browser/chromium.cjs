// Debian's Chromium through playwright-core (from TOOLS_DIR/node_modules), headless and kept
// off the network: the reports and emails must need nothing remote. Shared by the checks here.
const path = require("node:path");

function launch(tools, chromiumPath) {
  const { chromium } = require(path.join(path.resolve(tools), "node_modules", "playwright-core"));
  return chromium.launch({
    executablePath: chromiumPath,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

module.exports = { launch };
