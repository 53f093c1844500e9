// The official OpenAI Node SDK against `hark serve`: transcriptions in every response format
// (word timestamps too), translations, streaming (server-sent events), the model list, and an
// error surfaced as the SDK's APIError. Usage: node openai_sdk_test.mjs BASE_URL AUDIO_FILE
// Prints one "ok ..." or "FAIL ..." line per check.
import fs from 'node:fs';
import OpenAI from 'openai';

const [base, audio] = process.argv.slice(2);
const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'not-needed', maxRetries: 0, timeout: 120000 });
const file = () => fs.createReadStream(audio);

function check(name, cond, detail) {
  console.log(cond ? `ok ${name}` : `FAIL ${name}: ${detail ?? ''}`);
}

async function attempt(name, fn) {
  try {
    await fn();
  } catch (e) {
    check(name, false, `${e.status ?? ''} ${e.message}`);
  }
}

await attempt('json', async () => {
  const r = await client.audio.transcriptions.create({ file: file(), model: 'whisper-1' });
  check('json', typeof r.text === 'string', JSON.stringify(r).slice(0, 200));
});
await attempt('text', async () => {
  const r = await client.audio.transcriptions.create({ file: file(), model: 'whisper-1', response_format: 'text', language: 'en' });
  check('text', typeof r === 'string', typeof r);
});
for (const fmt of ['srt', 'vtt']) {
  await attempt(fmt, async () => {
    const r = await client.audio.transcriptions.create({ file: file(), model: 'whisper-1', response_format: fmt });
    const want = fmt === 'vtt' ? r.startsWith('WEBVTT') : /^1\r?\n\d\d:\d\d:\d\d,\d\d\d --> /.test(r);
    check(fmt, typeof r === 'string' && want, String(r).slice(0, 120));
  });
}
await attempt('verbose_json with words', async () => {
  const r = await client.audio.transcriptions.create({
    file: file(), model: 'whisper-1', response_format: 'verbose_json',
    timestamp_granularities: ['word', 'segment'], prompt: 'Kennedy', temperature: 0,
  });
  check('verbose_json with words', Array.isArray(r.segments) && r.segments.length > 0 &&
        Array.isArray(r.words) && typeof r.duration === 'number' && typeof r.language === 'string',
        JSON.stringify(r).slice(0, 200));
});
await attempt('translation', async () => {
  const r = await client.audio.translations.create({ file: file(), model: 'whisper-1' });
  check('translation', typeof r.text === 'string', JSON.stringify(r).slice(0, 200));
});
await attempt('stream', async () => {
  const stream = await client.audio.transcriptions.create({ file: file(), model: 'whisper-1', stream: true });
  let deltas = '', done = null, n = 0;
  for await (const ev of stream) {
    if (ev.type === 'transcript.text.delta') { deltas += ev.delta; n++; }
    else if (ev.type === 'transcript.text.done') done = ev.text;
  }
  check('stream', n > 0 && done !== null && deltas.trim() === done.trim(),
        `${n} deltas '${deltas.slice(0, 80)}' done '${String(done).slice(0, 80)}'`);
});
await attempt('models', async () => {
  const list = await client.models.list();
  check('models', list.data.some((m) => m.id === 'whisper-1'), JSON.stringify(list.data));
});
try {
  await client.audio.transcriptions.create({ file: file(), model: 'whisper-1', response_format: 'xml' });
  check('error', false, 'no error for response_format xml');
} catch (e) {
  check('error', e instanceof OpenAI.APIError && e.status === 400 && /response_format/.test(e.message),
        `${e.constructor.name} ${e.status} ${e.message}`);
}
