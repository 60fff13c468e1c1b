// Runtime configuration of the Todolist frontend.
//
// This file is loaded by index.html before the app and is deliberately not
// part of the bundle: to deploy the same build against another API, replace
// this one file (see README.md, "Configuring the API URL"). Serve it with
// `Cache-Control: no-cache` so a change takes effect at once.
window.TODOLIST_CONFIG = {
  // Origin of the API, without a trailing path. '' means the page's own origin.
  apiUrl: 'http://localhost:8000',
};
