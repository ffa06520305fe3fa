// UnmetaError and one subclass per UNMETA_E_* code. `code` is the ABI's
// number (negative), `name` the class's name; the numbers come from the
// loaded module (unmeta_constant), never from a copy in this file. The same
// classes as the Node binding's (bindings/node/lib/errors.js). Loaded by
// require() in Node and by importScripts() in a Worker (unmetaErrors).
(function (root) {
'use strict';

class UnmetaError extends Error {
  constructor(message, code) {
    super(message);
    this.name = 'UnmetaError';
    if (code !== undefined) this.code = code;
  }
}

// [constant, class name, what it means]: the names mirror the Python binding's.
const KINDS = [
  ['UNMETA_E_INVALID', 'InvalidArgumentError', 'a bad argument or option value'],
  ['UNMETA_E_NOMEM', 'OutOfMemoryError', 'an allocation failed'],
  ['UNMETA_E_IO', 'InputOutputError', 'reading or writing failed'],
  ['UNMETA_E_UNSUPPORTED', 'UnsupportedError', 'no format unmeta knows claims the input'],
  ['UNMETA_E_MALFORMED', 'MalformedError', "the input breaks its format's rules"],
  ['UNMETA_E_TRUNCATED', 'TruncatedError', 'the input ends before its structure does'],
  ['UNMETA_E_LIMIT', 'LimitError', 'the input exceeds a configured limit'],
  ['UNMETA_E_STATE', 'StateError', 'an object used in the wrong state'],
  ['UNMETA_E_CANCELED', 'CanceledError', 'the operation was canceled'],
  ['UNMETA_E_FEATURE', 'FeatureError', 'the input needs a feature left out of this build'],
  ['UNMETA_E_EXPIRED', 'ExpiredError', 'an envelope past its expiry'],
  ['UNMETA_E_CRYPTO', 'CryptoError', 'an envelope failed authentication'],
  ['UNMETA_E_NOKEY', 'NoKeyError', 'no key opens the envelope'],
];

function build(native) {
  const classes = { UnmetaError };
  const byCode = new Map();
  for (const [constName, className] of KINDS) {
    const code = native.constant(constName);
    // A class per name, named as such (stack traces, instanceof).
    const cls = {
      [className]: class extends UnmetaError {
        constructor(message, c = code) {
          super(message, c);
          this.name = className;
        }
      },
    }[className];
    cls.code = code;
    cls.constantName = constName;
    classes[className] = cls;
    // An older library without this code binds no number to the class.
    if (code !== undefined) byCode.set(code, cls);
  }
  function fromCode(code, message) {
    const cls = byCode.get(code);
    return cls ? new cls(message, code) : new UnmetaError(message, code);
  }
  return { classes, fromCode };
}

const api = { UnmetaError, build };
if (typeof module === 'object' && module.exports) module.exports = api;
else root.unmetaErrors = api;
})(typeof self !== 'undefined' ? self : this);
