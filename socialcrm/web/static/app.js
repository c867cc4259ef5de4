// Draws every chart of the page: each figure is JSON in a <script type="application/json"
// data-chart="ID"> element (never string-built JavaScript), drawn into the element with that id.
(function () {
  "use strict";
  function draw() {
    if (typeof window.Plotly === "undefined") { return; }
    var figures = document.querySelectorAll('script[type="application/json"][data-chart]');
    Array.prototype.forEach.call(figures, function (element) {
      var target = document.getElementById(element.getAttribute("data-chart"));
      if (!target) { return; }
      var figure = JSON.parse(element.textContent);
      var layout = Object.assign({ autosize: true }, figure.layout || {});
      window.Plotly.newPlot(target, figure.data || [], layout, {
        responsive: true, displaylogo: false, modeBarButtonsToRemove: ["sendDataToCloud"]
      });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
}());
