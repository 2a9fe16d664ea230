// The alerts' and the chain's pages: reload when the feed says what they show has changed.
"use strict";
(function () {
  const live = document.getElementById("live");
  if (!live) return;
  const source = new EventSource(live.dataset.feed);
  source.addEventListener("changed", function (event) {
    const data = JSON.parse(event.data);
    if (data.digest !== live.dataset.digest) {
      source.close();
      window.location.reload();
    }
  });
})();
