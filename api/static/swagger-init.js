// Starts Swagger UI on /docs. A file of its own, so the page needs no inline script
// (Content-Security-Policy `script-src 'self'`); no validator badge, which would call a server
// of swagger.io.
window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: false, // its links inside each operation's button are nested controls
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
});
