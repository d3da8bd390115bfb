// GOV.UK Frontend is an ES module: initialise its components, and again on
// any fragment htmx swaps in, so JavaScript-enhanced components keep working.
import { initAll } from "./govuk/govuk-frontend-6.3.0.min.js";

initAll();
document.body.addEventListener("htmx:afterSettle", (event) => {
  initAll({ scope: event.detail.elt });
});
