/* l2lab book: MathJax 3 shim, loaded before MathJax (which the page loads deferred).
 *
 * ipywidgets' HTML manager typesets widget labels with the MathJax 2 call
 * `MathJax.Hub.Queue(["Typeset", MathJax.Hub, el])`; with MathJax 3 on the page that throws
 * "Cannot read properties of undefined (reading 'Queue')". Whatever object `window.MathJax`
 * is (nothing yet, the MathJax 3 global once it loads), it gets a `Hub.Queue` that typesets the
 * element with the MathJax 3 API once MathJax is ready, and does nothing before that (MathJax's
 * first typeset then covers the whole page, widget labels included).
 */
(function () {
  "use strict";
  var hub = {
    Queue: function (job) {
      var mj = window.MathJax;
      var el = Array.isArray(job) ? job[2] : undefined;
      if (mj && typeof mj.typesetPromise === "function") {
        mj.typesetPromise(el ? [el] : undefined).catch(function (err) {
          console.warn("MathJax typeset failed", err);
        });
      }
    },
  };
  function withHub(value) {
    if (value && typeof value === "object" && !value.Hub) {
      try { value.Hub = hub; } catch (e) { /* frozen object: leave it */ }
    }
    return value;
  }
  var current = withHub(window.MathJax || {});
  Object.defineProperty(window, "MathJax", {
    configurable: true,
    enumerable: true,
    get: function () { return current; },
    set: function (value) { current = withHub(value); },
  });
})();
