/* credlti platform storage: keeps the login's state binding in the platform's
   storage (1EdTech LTI Client Side postMessages: lti.capabilities, lti.put_data,
   lti.get_data) when the browser keeps no cookie for the tool's frame.
   Dependency-free; no eval, no inline handlers. Configuration comes from the
   JSON block #credlti-storage-config; the page is marked with data-credlti on
   <html> (checking, storing, redirecting, reading, finishing, fallback). */
(function () {
  "use strict";
  var root = document.documentElement;
  var FRAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
  var waiting = {};
  var cfg;

  function mark(status, reason) {
    root.setAttribute("data-credlti", status);
    if (reason) {
      root.setAttribute("data-credlti-reason", String(reason).slice(0, 100));
    }
  }

  function messageId() {
    var c = window.crypto;
    if (c && typeof c.randomUUID === "function") {
      return c.randomUUID();
    }
    var bytes = new Uint8Array(16);
    c.getRandomValues(bytes);
    var out = "";
    for (var i = 0; i < bytes.length; i++) {
      out += (bytes[i] + 256).toString(16).slice(1);
    }
    return out;
  }

  /* The window a frame name designates: "_parent" is the embedding window (or the
     opener of a popup); any other safe name is a frame of that window. */
  function frameFor(name) {
    var base = window.parent !== window ? window.parent : window.opener;
    if (!base || typeof name !== "string") {
      return null;
    }
    if (name === "_parent") {
      return base;
    }
    if (!FRAME.test(name)) {
      return null;
    }
    try {
      return base.frames[name] || null;
    } catch (e) {
      return null;
    }
  }

  function onMessage(event) {
    if (event.origin !== cfg.origin) {
      return; /* only the platform's OIDC auth origin may answer */
    }
    var data = event.data;
    if (!data || typeof data !== "object" || typeof data.message_id !== "string") {
      return;
    }
    var waiter = Object.prototype.hasOwnProperty.call(waiting, data.message_id)
      ? waiting[data.message_id]
      : null;
    if (!waiter || data.subject !== waiter.subject + ".response") {
      return;
    }
    delete waiting[data.message_id];
    clearTimeout(waiter.timer);
    if (data.error) {
      var code = typeof data.error === "object" && data.error ? data.error.code : data.error;
      waiter.reject(new Error("error:" + String(code || "unknown")));
    } else {
      waiter.resolve(data);
    }
  }

  /* Send one message and wait for its response (same message_id, subject + ".response"). */
  function send(win, subject, fields, timeout) {
    return new Promise(function (resolve, reject) {
      if (!win) {
        reject(new Error("no_frame"));
        return;
      }
      var id = messageId();
      var message = { subject: subject, message_id: id };
      for (var name in fields) {
        if (Object.prototype.hasOwnProperty.call(fields, name)) {
          message[name] = fields[name];
        }
      }
      waiting[id] = {
        subject: subject,
        resolve: resolve,
        reject: reject,
        timer: setTimeout(function () {
          delete waiting[id];
          reject(new Error("timeout"));
        }, timeout)
      };
      try {
        win.postMessage(message, cfg.origin);
      } catch (e) {
        clearTimeout(waiting[id].timer);
        delete waiting[id];
        reject(new Error("post_failed"));
      }
    });
  }

  /* The first of several promises to succeed; fails when all fail. */
  function first(promises) {
    return new Promise(function (resolve, reject) {
      var left = promises.length;
      var lastError = new Error("none");
      promises.forEach(function (p) {
        p.then(resolve, function (err) {
          lastError = err;
          left -= 1;
          if (left === 0) {
            reject(lastError);
          }
        });
      });
    });
  }

  /* The frame a capabilities entry names; without one, the login's storage target. */
  function frameOf(entry) {
    return typeof entry.frame === "string" ? entry.frame : cfg.target || "_parent";
  }

  /* How to reach platform storage: {put, get, putFrame, getFrame} or null when it is
     unsupported; frames are looked up when a message is sent.
     A capabilities answer decides (its "frame" wins); without one, the
     lti_storage_target the platform sent at login is used. */
  function plan() {
    var parentWin = frameFor("_parent");
    var fallbackPlan = cfg.target
      ? { put: "lti.put_data", get: "lti.get_data", putFrame: cfg.target, getFrame: cfg.target }
      : null;
    if (!parentWin) {
      return Promise.resolve(fallbackPlan);
    }
    var asked = [
      send(parentWin, "lti.capabilities", {}, cfg.capabilities_timeout),
      send(parentWin, "org.imsglobal.lti.capabilities", {}, cfg.capabilities_timeout)
    ];
    return first(asked).then(
      function (answer) {
        var supported = Array.isArray(answer.supported_messages) ? answer.supported_messages : [];
        var found = {};
        supported.forEach(function (entry) {
          if (entry && typeof entry.subject === "string") {
            found[entry.subject] = entry;
          }
        });
        var put = found["lti.put_data"] || found["org.imsglobal.lti.put_data"];
        var get = found["lti.get_data"] || found["org.imsglobal.lti.get_data"];
        if (!put || !get) {
          mark("checking", "unsupported");
          return null;
        }
        return {
          put: put.subject,
          get: get.subject,
          putFrame: frameOf(put),
          getFrame: frameOf(get)
        };
      },
      function () {
        return fallbackPlan;
      }
    );
  }

  /* True when this frame keeps cookies (a partitioned one at least): then the state
     cookie the server set at login comes back with the launch. */
  function cookiesWork() {
    if (navigator.cookieEnabled === false) {
      return false;
    }
    var name = "credlti_cookie_check";
    var attrs = "; Path=/; SameSite=None; Secure; Partitioned";
    try {
      document.cookie = name + "=1" + attrs;
      var kept = document.cookie.indexOf(name + "=1") !== -1;
      document.cookie = name + "=; Max-Age=0" + attrs;
      return kept;
    } catch (e) {
      return false;
    }
  }

  function showFallback(reason) {
    mark("fallback", reason);
    var status = document.getElementById("credlti-status");
    if (status) {
      status.hidden = true;
    }
    var box = document.getElementById("credlti-fallback");
    if (box) {
      box.hidden = false;
    }
  }

  function go(url) {
    mark("redirecting");
    window.location.assign(url);
  }

  function login() {
    plan()
      .then(function (how) {
        if (!how) {
          throw new Error("unsupported");
        }
        mark("storing");
        return send(frameFor(how.putFrame), how.put, { key: cfg.key, value: cfg.value }, cfg.timeout).then(
          function (answer) {
            if (answer.key !== cfg.key) {
              throw new Error("wrong_key");
            }
          }
        );
      })
      .then(
        function () {
          go(cfg.next);
        },
        function (err) {
          if (cookiesWork()) {
            root.setAttribute("data-credlti-reason", String(err.message).slice(0, 100));
            go(cfg.next); /* the state cookie carries the binding */
          } else {
            showFallback(err.message);
          }
        }
      );
  }

  function launch() {
    mark("reading");
    plan()
      .then(function (how) {
        if (!how) {
          throw new Error("unsupported");
        }
        return send(frameFor(how.getFrame), how.get, { key: cfg.key }, cfg.timeout);
      })
      .then(
        function (answer) {
          if (answer.key !== cfg.key || typeof answer.value !== "string" || !answer.value) {
            throw new Error("no_value");
          }
          var form = document.getElementById("credlti-finish");
          form.elements.namedItem("credlti_binding").value = answer.value;
          mark("finishing");
          form.submit();
        }
      )
      .catch(function (err) {
        showFallback(err.message);
      });
  }

  try {
    cfg = JSON.parse(document.getElementById("credlti-storage-config").textContent);
  } catch (e) {
    showFallback("config");
    return;
  }
  window.addEventListener("message", onMessage, false);
  mark("checking");
  if (cfg.mode === "launch") {
    launch();
  } else {
    login();
  }
})();
