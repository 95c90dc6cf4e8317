// Progressive enhancement only: every page works without this script.
// A button with data-confirm asks before its form is sent (the bulk verdicts).
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-confirm]");
  if (button && !window.confirm(button.dataset.confirm)) {
    event.preventDefault();
  }
});
