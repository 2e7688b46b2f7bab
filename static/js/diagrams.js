// Draw Mermaid diagrams in lessons. "strict" keeps diagram text from running
// scripts or adding click handlers; the source was sanitised on the server too.
window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });
window.mermaid.run({ querySelector: "pre.mermaid" });
