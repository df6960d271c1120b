// The client's SOS page: one press sends where the client is (when they allow it) to POST /v1/sos
// and shows that help is being reached. The crisis numbers are in the page already, so a press
// the server never answers still leaves them on screen. Nothing is kept in the browser.
"use strict";

// How long to wait for the browser's location (the permission prompt included) before sending
// without it, and for the server's answer before telling the client to call.
const LOCATION_WAIT_MS = 5000;
const ANSWER_WAIT_MS = 10000;

function currentPosition() {
  return new Promise((resolve) => {
    if (!("geolocation" in navigator)) {
      resolve(null);
      return;
    }
    // getCurrentPosition's own timeout does not count the time the prompt stays open.
    const giveUp = setTimeout(() => resolve(null), LOCATION_WAIT_MS);
    navigator.geolocation.getCurrentPosition(
      (found) => {
        clearTimeout(giveUp);
        resolve({
          lat: found.coords.latitude,
          lon: found.coords.longitude,
          accuracy_m: found.coords.accuracy,
        });
      },
      () => {
        clearTimeout(giveUp);
        resolve(null);
      },
      { enableHighAccuracy: true, timeout: LOCATION_WAIT_MS, maximumAge: 60000 },
    );
  });
}

async function press(token, position) {
  const response = await fetch("/v1/sos", {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify(position || {}),
    credentials: "omit",
    cache: "no-store",
    signal: AbortSignal.timeout(ANSWER_WAIT_MS),
  });
  let answer = {};
  try {
    answer = await response.json();
  } catch {
    answer = {};
  }
  return { reached: response.ok || response.status === 429, answer };
}

// A US number as the page's own are shown: +15035550111 reads (503) 555-0111.
function shownPhone(phone) {
  const us = /^\+1(\d{3})(\d{3})(\d{4})$/.exec(phone);
  return us ? `(${us[1]}) ${us[2]}-${us[3]}` : phone;
}

// A number the answer knows (a crisis line nearer to where the client is) joins the list.
function addNumbers(numbers) {
  const list = document.querySelector("[data-crisis-numbers]");
  if (!list || !Array.isArray(numbers)) return;
  for (const number of numbers) {
    if (!number || typeof number.phone !== "string") continue;
    const shown = [...list.children].some((item) => item.dataset.phone === number.phone);
    if (shown) continue;
    const item = document.createElement("li");
    item.dataset.phone = number.phone;
    const call = document.createElement("a");
    call.className = "call";
    call.href = `tel:${number.phone}`;
    call.textContent = `Call ${shownPhone(number.phone)}`;
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = String(number.name || "");
    item.append(call, " ", who);
    list.append(item);
  }
}

function show(status, message, reached) {
  status.textContent = message;
  status.classList.toggle("reached", reached);
  status.classList.toggle("failed", !reached);
}

async function getHelp(button, status) {
  const callNow = status.dataset.callNow;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  show(status, "Sending your request for help…", true);
  try {
    const position = await currentPosition();
    const { reached, answer } = await press(button.dataset.sosToken, position);
    addNumbers(answer.crisis_numbers);
    show(status, typeof answer.message === "string" ? answer.message : callNow, reached);
  } catch {
    show(status, callNow, false);
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

// The button's form posts to the page itself when this script does not run; here the press
// goes to the JSON API instead, with the location.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("[data-sos-form]");
  const button = document.querySelector("[data-sos-button]");
  const status = document.querySelector("[data-sos-status]");
  if (!form || !button || !status) return;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    getHelp(button, status);
  });
});
