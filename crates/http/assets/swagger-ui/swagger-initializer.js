// Served from the binary; the document is one level up (/docs/index.html -> /openapi.json, also under /api).
// validatorUrl: null keeps Swagger UI from calling any outside host.
window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: new URL("../openapi.json", window.location.href).pathname,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    persistAuthorization: true,
    presets: [SwaggerUIBundle.presets.apis],
  });
};
