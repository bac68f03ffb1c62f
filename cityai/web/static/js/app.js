// CityAI shell behaviour. htmx does the partial updates; this file only adds small conveniences.
document.addEventListener("DOMContentLoaded", function () {
  // Select a freshly created token secret so it can be copied at once.
  var secret = document.querySelector("[data-testid='token-secret']");
  if (secret && window.getSelection) {
    var range = document.createRange();
    range.selectNodeContents(secret);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }
});
