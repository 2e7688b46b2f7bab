// The admin's lesson preview draws Mermaid diagrams as the lesson page does ("strict": diagram
// text cannot run scripts or add click handlers; the server sanitised it too), each time htmx
// swaps a new preview in. A diagram that does not parse yet (the author is typing) stays as
// its text instead of raising an error.
window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });
document.addEventListener("htmx:afterSwap", () => {
  const preview = document.getElementById("lesson-preview");
  const diagrams = preview ? preview.querySelectorAll("pre.mermaid:not([data-processed])") : [];
  if (diagrams.length) window.mermaid.run({ nodes: diagrams, suppressErrors: true });
});
