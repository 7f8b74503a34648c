-- Argo CD health of a datamesh.dev DataProduct, read from the Ready condition the operator writes.
-- Single source: argocd-cm.yaml beside this file is generated from it (scripts/sync-packaging.sh), and
-- tests/packaging/test_argocd.py runs it against sample objects.
local hs = {}
-- Ready=False for one of these reasons means the operator is still at work (a build is running or queued),
-- not that something broke (datamesh.api.reasons.PRODUCT_IN_PROGRESS).
local still_working = {Building = true, Pending = true}
-- Ready=False for one of these means the product waits for something outside the operator: a deletion held until
-- its consumers move (datamesh.api.reasons.PRODUCT_SUSPENDED). Argo CD's Suspended, with the message naming them.
local suspended = {DeletionHeld = true}

local function waiting(message)
  hs.status = "Progressing"
  hs.message = message
  return hs
end

if obj.status == nil or obj.status.conditions == nil then
  return waiting("Waiting for the operator")
end
local ready = nil
for _, condition in ipairs(obj.status.conditions) do
  if condition.type == "Ready" then
    ready = condition
  end
end
if ready == nil then
  return waiting("Waiting for the operator")
end
-- A Ready condition written for an older spec says nothing about the current one.
local generation = obj.metadata ~= nil and obj.metadata.generation or nil
if generation ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration < generation then
  return waiting("Waiting for the operator to observe generation " .. tostring(generation))
end

local message = ready.message
if message == nil or message == "" then
  message = ready.reason or ""
end
if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = message
elseif ready.status == "False" and ready.reason ~= nil and suspended[ready.reason] then
  hs.status = "Suspended"
  hs.message = message
elseif ready.status == "False" and (ready.reason == nil or not still_working[ready.reason]) then
  hs.status = "Degraded"
  hs.message = message
else
  -- Unknown, or False while still working.
  hs.status = "Progressing"
  hs.message = message
end
return hs
