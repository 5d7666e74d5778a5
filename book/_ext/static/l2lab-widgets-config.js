/* l2lab book: require.js configuration, loaded just before require.js on pages with widgets.
 *
 * The ipywidgets HTML manager (embed-amd.js) loads its fonts from the folder of its AMD module
 * "@jupyter-widgets/html-manager/dist/libembed-amd", which require.js resolves relative to the
 * page unless told otherwise. Point it at the book's local copy, next to this file.
 */
(function () {
  "use strict";
  var here = document.currentScript && document.currentScript.src;
  if (!here) { return; }
  var base = here.replace(/[^\/]*$/, "");  /* .../_static/ */
  window.require = {
    paths: { "@jupyter-widgets/html-manager/dist": base + "l2lab_js/html-manager" },
  };
})();
