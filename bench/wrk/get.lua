-- GET the URL as is (the bare-endpoint floor).
dofile("common.lua")
