// jsdom lacks what Lumino's drag-and-drop and the schema's byte count use in browsers.
if (typeof globalThis.DragEvent === 'undefined') {
  globalThis.DragEvent = class DragEvent extends MouseEvent {};
}
if (typeof globalThis.TextEncoder === 'undefined') {
  globalThis.TextEncoder = require('util').TextEncoder;
}
// ServerConnection's default settings name fetch, Headers and Request, which jsdom lacks; the unit
// tests make no requests, so any that were made fail loudly.
if (typeof globalThis.fetch === 'undefined') {
  globalThis.fetch = () => Promise.reject(new Error('the unit tests make no requests'));
  globalThis.Headers = globalThis.Headers || class Headers {};
  globalThis.Request = globalThis.Request || class Request {};
}
